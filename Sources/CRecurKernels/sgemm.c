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

/* A product of one or two terms, `C = beta·C + op(A1)·B1 + op(A2)·B2`: the second term lets a
 * recurrent step add `x_t·K` and `h_{t−1}·U` in one pass, writing its pre-activations once.
 * `op(A)[r][p]` is at `a + r·sr + p·sk` (sr = lda, sk = 1; transposed: sr = 1, sk = lda). */
struct terms {
    int k1, k2;
    const float *a1, *a2, *b1, *b2;
    long sr1, sk1, sr2, sk2, ldb1, ldb2;
};

/* A block of rows [i, i + MR) and columns [j, j + w) of C, summed in registers over both terms. */
typedef void (*block_fn)(int full, int w, int i, int j, const struct terms *t, float beta, float *c, long ldc);

/* Rows split into ⌈m/MR⌉ blocks as even as possible (AVX2, m = 32: 6 6 5 5 5 5, not 6 6 6 6 6 2),
 * since a thin block is bound by its loads rather than its FMAs; column panels of NR. */
static void drive(const block_fn *blocks_by_rows, int mr, int nr, int m, int n, const struct terms *t, float beta, float *c, int ldc) {
    const int blocks = (m + mr - 1) / mr;
    for (int j = 0; j < n; j += nr) {
        const int w = n - j < nr ? n - j : nr;
        for (int q = 0, i = 0; q < blocks; q++) {
            const int rows = (m - i) / (blocks - q);
            blocks_by_rows[rows](w == nr, w, i, j, t, beta, c + (long)i * ldc + j, ldc);
            i += rows;
        }
    }
}

static struct terms one_term(int trans_a, int k, const float *a, int lda, const float *b, int ldb) {
    struct terms t = {k, 0, a, 0, b, 0, trans_a ? 1 : lda, trans_a ? lda : 1, 0, 0, ldb, 0};
    return t;
}

static struct terms two_terms(int k1, const float *a1, int lda1, const float *b1, int ldb1, int k2, const float *a2, int lda2,
                              const float *b2, int ldb2) {
    struct terms t = {k1, k2, a1, a2, b1, b2, lda1, 1, lda2, 1, ldb1, ldb2};
    return t;
}

/* ---- AVX2 + FMA: 6 rows × 16 columns (two ymm) per block, 12 accumulators ---- */

static AVX2_FN INLINE __m256i avx2_mask(int lanes) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), idx);
}

/* acc += op(A)[rows, k]·B[k, 16 columns], B's loads as LOAD (plain or masked). */
#define AVX2_TERM(MR, K, A, SR, SK, B, LDB, LOAD0, LOAD1)                                             \
    for (int p = 0; p < (K); p++) {                                                                 \
        const float *bp = (B) + p * (LDB), *ap = (A) + p * (SK);                                    \
        const __m256 b0 = LOAD0(bp), b1 = LOAD1(bp + 8);                                            \
        for (int r = 0; r < MR; r++) {                                                              \
            const __m256 av = _mm256_broadcast_ss(ap + r * (SR));                                   \
            acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);                                             \
            acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);                                             \
        }                                                                                           \
    }
#define AVX2_FULL_LOAD(p) _mm256_loadu_ps(p)
#define AVX2_MASK0_LOAD(p) _mm256_maskload_ps(p, m0)
#define AVX2_MASK1_LOAD(p) _mm256_maskload_ps(p, m1)

#define AVX2_BLOCK(MR)                                                                              \
    static AVX2_FN void avx2_block_##MR(int full, int w, int i, int j, const struct terms *t, float beta, float *c, long ldc) { \
        __m256 acc0[MR], acc1[MR];                                                                  \
        for (int r = 0; r < MR; r++) { acc0[r] = _mm256_setzero_ps(); acc1[r] = _mm256_setzero_ps(); } \
        const __m256i m0 = avx2_mask(w), m1 = avx2_mask(w - 8);                                     \
        const float *a1 = t->a1 + i * t->sr1, *b1 = t->b1 + j, *a2 = t->a2 + i * t->sr2, *b2 = t->b2 + j; \
        if (full) {                                                                                 \
            AVX2_TERM(MR, t->k1, a1, t->sr1, t->sk1, b1, t->ldb1, AVX2_FULL_LOAD, AVX2_FULL_LOAD)    \
            AVX2_TERM(MR, t->k2, a2, t->sr2, t->sk2, b2, t->ldb2, AVX2_FULL_LOAD, AVX2_FULL_LOAD)    \
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
        AVX2_TERM(MR, t->k1, a1, t->sr1, t->sk1, b1, t->ldb1, AVX2_MASK0_LOAD, AVX2_MASK1_LOAD)      \
        AVX2_TERM(MR, t->k2, a2, t->sr2, t->sk2, b2, t->ldb2, AVX2_MASK0_LOAD, AVX2_MASK1_LOAD)      \
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

static const block_fn avx2_blocks[] = {0, avx2_block_1, avx2_block_2, avx2_block_3, avx2_block_4, avx2_block_5, avx2_block_6};

/* ---- AVX-512: 8 rows × 32 columns (two zmm) per block, 16 accumulators; tails masked ---- */

#define AVX512_TERM(MR, K, A, SR, SK, B, LDB)                                                       \
    for (int p = 0; p < (K); p++) {                                                                 \
        const float *bp = (B) + p * (LDB), *ap = (A) + p * (SK);                                    \
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp), b1 = _mm512_maskz_loadu_ps(m1, bp + 16);   \
        for (int r = 0; r < MR; r++) {                                                              \
            const __m512 av = _mm512_set1_ps(ap[r * (SR)]);                                         \
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);                                             \
            acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);                                             \
        }                                                                                           \
    }

#define AVX512_BLOCK(MR)                                                                            \
    static AVX512_FN void avx512_block_##MR(int full, int w, int i, int j, const struct terms *t, float beta, float *c, long ldc) { \
        (void)full;                                                                                 \
        __m512 acc0[MR], acc1[MR];                                                                  \
        for (int r = 0; r < MR; r++) { acc0[r] = _mm512_setzero_ps(); acc1[r] = _mm512_setzero_ps(); } \
        const __mmask16 m0 = (__mmask16)(w >= 16 ? 0xFFFF : (1u << w) - 1);                        \
        const __mmask16 m1 = (__mmask16)(w >= 32 ? 0xFFFF : w <= 16 ? 0 : (1u << (w - 16)) - 1);    \
        const float *a1 = t->a1 + i * t->sr1, *b1 = t->b1 + j, *a2 = t->a2 + i * t->sr2, *b2 = t->b2 + j; \
        AVX512_TERM(MR, t->k1, a1, t->sr1, t->sk1, b1, t->ldb1)                                     \
        AVX512_TERM(MR, t->k2, a2, t->sr2, t->sk2, b2, t->ldb2)                                     \
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

static const block_fn avx512_blocks[] = {
    0, avx512_block_1, avx512_block_2, avx512_block_3, avx512_block_4, avx512_block_5, avx512_block_6, avx512_block_7, avx512_block_8,
};

/* ---- AVX-512, narrow outputs (n <= 16): 16 rows × 16 columns (one zmm), 16 accumulators ----
 * The 32-column block would spend half its FMAs on masked-off lanes here (Δ·Uᵀ of a BiLSTM with
 * H = 16 ran at half OpenBLAS's speed on Zen 4). Each output is summed in the same order, so the
 * products are the same bits as the wide block's and the AVX2 kernel's. */

#define AVX512_NARROW_BLOCK(MR)                                                                     \
    static AVX512_FN void avx512_narrow_block_##MR(int full, int w, int i, int j, const struct terms *t, float beta, float *c, \
                                                   long ldc) {                                      \
        (void)full;                                                                                 \
        __m512 acc[MR];                                                                             \
        for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_ps();                                  \
        const __mmask16 m0 = (__mmask16)(w >= 16 ? 0xFFFF : (1u << w) - 1);                        \
        const float *a1 = t->a1 + i * t->sr1, *b1 = t->b1 + j, *a2 = t->a2 + i * t->sr2, *b2 = t->b2 + j; \
        AVX512_NARROW_TERM(MR, t->k1, a1, t->sr1, t->sk1, b1, t->ldb1)                              \
        AVX512_NARROW_TERM(MR, t->k2, a2, t->sr2, t->sk2, b2, t->ldb2)                              \
        for (int r = 0; r < MR; r++) {                                                              \
            float *cr = c + r * ldc;                                                                \
            if (beta != 0) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m0, cr), acc[r]); \
            _mm512_mask_storeu_ps(cr, m0, acc[r]);                                                  \
        }                                                                                           \
    }

#define AVX512_NARROW_TERM(MR, K, A, SR, SK, B, LDB)                                                \
    for (int p = 0; p < (K); p++) {                                                                 \
        const float *ap = (A) + p * (SK);                                                           \
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, (B) + p * (LDB));                              \
        for (int r = 0; r < MR; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ap[r * (SR)]), b0, acc[r]); \
    }

AVX512_NARROW_BLOCK(1)
AVX512_NARROW_BLOCK(2)
AVX512_NARROW_BLOCK(3)
AVX512_NARROW_BLOCK(4)
AVX512_NARROW_BLOCK(5)
AVX512_NARROW_BLOCK(6)
AVX512_NARROW_BLOCK(7)
AVX512_NARROW_BLOCK(8)
AVX512_NARROW_BLOCK(9)
AVX512_NARROW_BLOCK(10)
AVX512_NARROW_BLOCK(11)
AVX512_NARROW_BLOCK(12)
AVX512_NARROW_BLOCK(13)
AVX512_NARROW_BLOCK(14)
AVX512_NARROW_BLOCK(15)
AVX512_NARROW_BLOCK(16)

static const block_fn avx512_narrow_blocks[] = {
    0,
    avx512_narrow_block_1,
    avx512_narrow_block_2,
    avx512_narrow_block_3,
    avx512_narrow_block_4,
    avx512_narrow_block_5,
    avx512_narrow_block_6,
    avx512_narrow_block_7,
    avx512_narrow_block_8,
    avx512_narrow_block_9,
    avx512_narrow_block_10,
    avx512_narrow_block_11,
    avx512_narrow_block_12,
    avx512_narrow_block_13,
    avx512_narrow_block_14,
    avx512_narrow_block_15,
    avx512_narrow_block_16,
};

/* The AVX-512 driver: the narrow table when the whole output fits one 16-float register. */
static void drive_avx512(int m, int n, const struct terms *t, float beta, float *c, int ldc) {
    if (n <= 16)
        drive(avx512_narrow_blocks, 16, 16, m, n, t, beta, c, ldc);
    else
        drive(avx512_blocks, 8, 32, m, n, t, beta, c, ldc);
}

void recur_sgemm_avx2(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta, float *c,
                      int ldc) {
    const struct terms t = one_term(trans_a, k, a, lda, b, ldb);
    drive(avx2_blocks, 6, 16, m, n, &t, beta, c, ldc);
}

void recur_sgemm_avx512(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc) {
    const struct terms t = one_term(trans_a, k, a, lda, b, ldb);
    drive_avx512(m, n, &t, beta, c, ldc);
}

void recur_sgemm2_avx2(int m, int n, int k1, const float *a1, int lda1, const float *b1, int ldb1, int k2, const float *a2, int lda2,
                       const float *b2, int ldb2, float beta, float *c, int ldc) {
    const struct terms t = two_terms(k1, a1, lda1, b1, ldb1, k2, a2, lda2, b2, ldb2);
    drive(avx2_blocks, 6, 16, m, n, &t, beta, c, ldc);
}

void recur_sgemm2_avx512(int m, int n, int k1, const float *a1, int lda1, const float *b1, int ldb1, int k2, const float *a2,
                         int lda2, const float *b2, int ldb2, float beta, float *c, int ldc) {
    const struct terms t = two_terms(k1, a1, lda1, b1, ldb1, k2, a2, lda2, b2, ldb2);
    drive_avx512(m, n, &t, beta, c, ldc);
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
void recur_sgemm2_avx2(int m, int n, int k1, const float *a1, int lda1, const float *b1, int ldb1, int k2, const float *a2, int lda2,
                       const float *b2, int ldb2, float beta, float *c, int ldc) {
    (void)m; (void)n; (void)k1; (void)a1; (void)lda1; (void)b1; (void)ldb1; (void)k2; (void)a2; (void)lda2; (void)b2; (void)ldb2;
    (void)beta; (void)c; (void)ldc;
    abort();
}
void recur_sgemm2_avx512(int m, int n, int k1, const float *a1, int lda1, const float *b1, int ldb1, int k2, const float *a2,
                         int lda2, const float *b2, int ldb2, float beta, float *c, int ldc) {
    (void)m; (void)n; (void)k1; (void)a1; (void)lda1; (void)b1; (void)ldb1; (void)k2; (void)a2; (void)lda2; (void)b2; (void)ldb2;
    (void)beta; (void)c; (void)ldc;
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
