/*
 * Small single-precision GEMMs for the engine's per-step products, with no packing.
 *
 * The recurrent layers multiply tiny matrices once per timestep (`h·U` is [64, 32]·[32, 128] in
 * the lecture's LSTM): OpenBLAS packs both operands on every call and spends a large share of
 * such a call outside its inner kernel. Here `B` (the weights, reused every step) is read in
 * place from L1/L2 and `A` is broadcast one element at a time, so a call costs its FMAs and
 * little else. `op(A)` may be transposed (the weight gradients `hᵀ·Δ`): a broadcast reads one
 * float either way.
 *
 * Every function is compiled for its instruction set with a target attribute, so one binary
 * carries both and `recur_kernels_current` picks at run time (cpuid), whatever the build's
 * `-target-cpu` is.
 */
#include "CRecurKernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_FN __attribute__((target("avx2,fma")))
#define AVX512_FN __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define INLINE inline __attribute__((always_inline))

/* ---- AVX2 + FMA: 6 rows × 16 columns (two ymm) per block, 12 accumulators ---- */

static AVX2_FN INLINE __m256i avx2_mask(int lanes) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), idx);
}

/* One block: rows [0, MR) of op(A) times columns [0, w) of B (w ≤ 16), into C. */
#define AVX2_BLOCK(MR)                                                                              \
    static AVX2_FN void avx2_block_##MR(                                                           \
        int full, int w, int k, const float *a, long sr, long sk, const float *b, long ldb, float beta, \
        float *c, long ldc) {                                                                       \
        __m256 acc0[MR], acc1[MR];                                                                  \
        for (int r = 0; r < MR; r++) { acc0[r] = _mm256_setzero_ps(); acc1[r] = _mm256_setzero_ps(); } \
        const __m256i m0 = avx2_mask(w), m1 = avx2_mask(w - 8);                                     \
        if (full) {                                                                                 \
            for (int p = 0; p < k; p++) {                                                           \
                const float *bp = b + p * ldb, *ap = a + p * sk;                                    \
                const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);                \
                for (int r = 0; r < MR; r++) {                                                      \
                    const __m256 av = _mm256_broadcast_ss(ap + r * sr);                             \
                    acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);                                     \
                    acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);                                     \
                }                                                                                   \
            }                                                                                       \
            for (int r = 0; r < MR; r++) {                                                          \
                float *cr = c + r * ldc;                                                            \
                if (beta != 0) {                                                                    \
                    const __m256 bv = _mm256_set1_ps(beta);                                         \
                    acc0[r] = _mm256_fmadd_ps(bv, _mm256_loadu_ps(cr), acc0[r]);                    \
                    acc1[r] = _mm256_fmadd_ps(bv, _mm256_loadu_ps(cr + 8), acc1[r]);                \
                }                                                                                   \
                _mm256_storeu_ps(cr, acc0[r]);                                                      \
                _mm256_storeu_ps(cr + 8, acc1[r]);                                                  \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        for (int p = 0; p < k; p++) {                                                               \
            const float *bp = b + p * ldb, *ap = a + p * sk;                                        \
            const __m256 b0 = _mm256_maskload_ps(bp, m0), b1 = _mm256_maskload_ps(bp + 8, m1);      \
            for (int r = 0; r < MR; r++) {                                                          \
                const __m256 av = _mm256_broadcast_ss(ap + r * sr);                                 \
                acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);                                         \
                acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);                                         \
            }                                                                                       \
        }                                                                                           \
        for (int r = 0; r < MR; r++) {                                                              \
            float *cr = c + r * ldc;                                                                \
            if (beta != 0) {                                                                        \
                const __m256 bv = _mm256_set1_ps(beta);                                             \
                acc0[r] = _mm256_fmadd_ps(bv, _mm256_maskload_ps(cr, m0), acc0[r]);                 \
                acc1[r] = _mm256_fmadd_ps(bv, _mm256_maskload_ps(cr + 8, m1), acc1[r]);             \
            }                                                                                       \
            _mm256_maskstore_ps(cr, m0, acc0[r]);                                                   \
            _mm256_maskstore_ps(cr + 8, m1, acc1[r]);                                               \
        }                                                                                           \
    }

AVX2_BLOCK(1)
AVX2_BLOCK(2)
AVX2_BLOCK(3)
AVX2_BLOCK(4)
AVX2_BLOCK(5)
AVX2_BLOCK(6)

/* Rows split into ⌈m/6⌉ blocks as even as possible (m = 32: 6 6 5 5 5 5, not 6 6 6 6 6 2), since
 * a thin block is bound by its loads rather than its FMAs. */
AVX2_FN void recur_sgemm_avx2(
    int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta, float *c,
    int ldc) {
    const long sr = trans_a ? 1 : lda, sk = trans_a ? lda : 1;
    const int blocks = (m + 5) / 6;
    for (int j = 0; j < n; j += 16) {
        const int w = n - j < 16 ? n - j : 16, full = w == 16;
        for (int q = 0, i = 0; q < blocks; q++) {
            const int rows = (m - i) / (blocks - q);
            const float *ai = a + i * sr;
            float *ci = c + (long)i * ldc + j;
            switch (rows) {
            case 6: avx2_block_6(full, w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 5: avx2_block_5(full, w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 4: avx2_block_4(full, w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 3: avx2_block_3(full, w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 2: avx2_block_2(full, w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            default: avx2_block_1(full, w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            }
            i += rows;
        }
    }
}

/* ---- AVX-512: 8 rows × 32 columns (two zmm) per block, 16 accumulators ---- */

#define AVX512_BLOCK(MR)                                                                            \
    static AVX512_FN void avx512_block_##MR(                                                       \
        int w, int k, const float *a, long sr, long sk, const float *b, long ldb, float beta, float *c, long ldc) { \
        __m512 acc0[MR], acc1[MR];                                                                  \
        for (int r = 0; r < MR; r++) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); } \
        const __mmask16 m0 = (__mmask16)(w >= 16 ? 0xFFFF : (1u << w) - 1);                        \
        const __mmask16 m1 = (__mmask16)(w >= 32 ? 0xFFFF : w <= 16 ? 0 : (1u << (w - 16)) - 1);    \
        for (int p = 0; p < k; p++) {                                                               \
            const float *bp = b + p * ldb, *ap = a + p * sk;                                        \
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16); \
            for (int r = 0; r < MR; r++) {                                                          \
                const __m512 av = _mm512_set1_ps(ap[r * sr]);                                       \
                acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);                                         \
                acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);                                         \
            }                                                                                       \
        }                                                                                           \
        for (int r = 0; r < MR; r++) {                                                              \
            float *cr = c + r * ldc;                                                                \
            if (beta != 0) {                                                                        \
                const __m512 bv = _mm512_set1_ps(beta);                                             \
                acc0[r] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m0, cr), acc0[r]);              \
                acc1[r] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m1, cr + 16), acc1[r]);         \
            }                                                                                       \
            _mm512_mask_storeu_ps(cr, m0, acc0[r]);                                                 \
            _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);                                            \
        }                                                                                           \
    }

AVX512_BLOCK(1)
AVX512_BLOCK(2)
AVX512_BLOCK(3)
AVX512_BLOCK(4)
AVX512_BLOCK(5)
AVX512_BLOCK(6)
AVX512_BLOCK(7)
AVX512_BLOCK(8)

AVX512_FN void recur_sgemm_avx512(
    int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta, float *c,
    int ldc) {
    const long sr = trans_a ? 1 : lda, sk = trans_a ? lda : 1;
    const int blocks = (m + 7) / 8;
    for (int j = 0; j < n; j += 32) {
        const int w = n - j < 32 ? n - j : 32;
        for (int q = 0, i = 0; q < blocks; q++) {
            const int rows = (m - i) / (blocks - q);
            const float *ai = a + i * sr;
            float *ci = c + (long)i * ldc + j;
            switch (rows) {
            case 8: avx512_block_8(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 7: avx512_block_7(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 6: avx512_block_6(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 5: avx512_block_5(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 4: avx512_block_4(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 3: avx512_block_3(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            case 2: avx512_block_2(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            default: avx512_block_1(w, k, ai, sr, sk, b + j, ldb, beta, ci, ldc); break;
            }
            i += rows;
        }
    }
}

#endif

static int hardware_level(void);

/* The hardware's level, lowered by RECUR_KERNELS=blas|avx2 (never raised past the hardware). */
static int detect_level(void) {
    const char *forced = getenv("RECUR_KERNELS");
    const int level = hardware_level();
    if (forced && !strcmp(forced, "blas")) return RECUR_KERNELS_NONE;
    if (forced && !strcmp(forced, "avx2") && level >= RECUR_KERNELS_AVX2) return RECUR_KERNELS_AVX2;
    return level;
}

#if !defined(__x86_64__) /* not x86-64: the engine stays on BLAS */

void recur_sgemm_avx2(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    (void)trans_a; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    abort();
}
void recur_sgemm_avx512(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    (void)trans_a; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
    abort();
}
#endif

static int hardware_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return RECUR_KERNELS_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return RECUR_KERNELS_AVX2;
#endif
    return RECUR_KERNELS_NONE;
}

int recur_kernels_supported(void) { return hardware_level(); }

/* The process-wide choice, computed once (a benign race: every thread computes the same value). */
static int detected = -1;
int recur_kernels_detected(void) {
    if (detected < 0) detected = detect_level();
    return detected;
}

static _Thread_local int thread_override = -1;
void recur_kernels_set_thread(int level) { thread_override = level; }
int recur_kernels_current(void) { return thread_override >= 0 ? thread_override : recur_kernels_detected(); }
