#ifndef CRECUR_KERNELS_H
#define CRECUR_KERNELS_H

/// Which of the engine's own kernels run: none (BLAS only), AVX2 + FMA, or AVX-512.
enum { RECUR_KERNELS_NONE = 0, RECUR_KERNELS_AVX2 = 1, RECUR_KERNELS_AVX512 = 2 };
/// The best level this CPU supports (cpuid).
int recur_kernels_supported(void);
/// The process's level: the CPU's, lowered by `RECUR_KERNELS=blas` or `=avx2` in the environment
/// (to compare paths); computed once.
int recur_kernels_detected(void);
/// The calling thread's level: its override if one is set (tests run both paths), else the
/// process's. One call per product.
int recur_kernels_current(void);
/// Sets the calling thread's level; -1 clears it. The caller checks it against `supported`.
void recur_kernels_set_thread(int level);

/// `C[m, n] = beta · C + op(A)[m, k] · B[k, n]`, all row-major; `op(A)` is `A` or, when
/// `trans_a`, the transpose of a row-major `[k, m]` matrix. No packing: for the engine's small
/// per-step products. Each runs only on a CPU with its instruction set (AVX2 + FMA; AVX-512 F,
/// VL and DQ), which `recur_kernels_detected` reports.
void recur_sgemm_avx2(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta,
                      float *c, int ldc);
void recur_sgemm_avx512(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta,
                        float *c, int ldc);

/// `C[m, n] = beta · C + A1[m, k1] · B1[k1, n] + A2[m, k2] · B2[k2, n]` (no transposes) in one
/// pass: a recurrent step's `x_t·K + h_{t−1}·U`, its pre-activations written once.
void recur_sgemm2_avx2(int m, int n, int k1, const float *a1, int lda1, const float *b1, int ldb1, int k2, const float *a2, int lda2,
                       const float *b2, int ldb2, float beta, float *c, int ldc);
void recur_sgemm2_avx512(int m, int n, int k1, const float *a1, int lda1, const float *b1, int ldb1, int k2, const float *a2,
                         int lda2, const float *b2, int ldb2, float beta, float *c, int ldc);

#endif
