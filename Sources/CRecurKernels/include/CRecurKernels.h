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

/// Recurrent forward steps with their gates fused into the products (AVX-512 only), for rows
/// `r < batch` and units `j < hidden`, with no dropout masks on the products; the same bits as the
/// engine's unfused step (`recur_sgemm*` then its Swift gate pass). `x` `[batch, features]` (or
/// `x_t ⊙ d` under input dropout), `h_prev` `[batch, hidden]`; kernels `[features, G·H]` and
/// `[hidden, G·H]` in Keras's gate order; `z` (the tape) `[batch, G·H]`; states `[batch, hidden]`.
///
/// LSTM (G = 4): `z = (σ(s_i), σ(s_f), tanh(s_c), σ(s_o))` with `s = x·K + h·U + b`;
/// `c_out = f⊙c_prev + i⊙g`, `h_out = o⊙tanh(c_out)`.
void recur_lstm_step_avx512(int batch, int hidden, int features, const float *x, const float *kernel, const float *h_prev,
                            const float *recurrent, const float *bias, const float *c_prev, float *z, float *c_out, float *h_out);
/// GRU with reset_after (G = 3): `z = (σ(s_z), σ(s_r), ĥ)` with `s = x·K + h·U + b_folded` for
/// z and r, `q_out = h·U_h + b^h_h`, `ĥ = tanh(x·K_h + b^x_h + r⊙q)`, `h_out = z⊙h_prev + (1−z)⊙ĥ`
/// (`folded_bias` `[3H]` is the input bias plus the recurrent z and r biases).
void recur_gru_step_avx512(int batch, int hidden, int features, const float *x, const float *kernel, const float *h_prev,
                           const float *recurrent, const float *folded_bias, const float *recurrent_bias, float *z, float *q_out,
                           float *h_out);

/// The forward gate passes of those steps (AVX-512) when their products were made apart, from the
/// pre-activations `pre` `[batch, G·H]` (`x·K + h·U` for LSTM; for GRU `x·K`, with `h·U` in `slab`):
/// the same bits as the Swift gate passes (`RecurrentDirection.lstmForward`/`gruForward`) on the
/// same pre-activations.
void recur_lstm_gates_avx512(int batch, int hidden, const float *pre, const float *bias, const float *c_prev, float *z, float *c_out,
                             float *h_out);
void recur_gru_gates_avx512(int batch, int hidden, const float *pre, const float *slab, const float *folded_bias,
                            const float *recurrent_bias, const float *h_prev, float *z, float *q_out, float *h_out);
/// LSTM's backward gate pass (AVX-512): `delta` `[batch, 4H]` from `dh`, `dc` (updated to
/// `∂L/∂c_{t−1}`) and the tape, the same bits as `RecurrentDirection.lstmBackward`'s Swift pass.
void recur_lstm_backward_gates_avx512(int batch, int hidden, const float *z, const float *c_prev, const float *c_out, const float *dh,
                                      float *dc, float *delta);

/// GRU's (reset_after) backward gate pass (AVX-512): `delta` and `delta_recurrent` `[batch, 3H]`
/// and `dh_prev`'s direct term `dh ⊙ z`, the same bits as `RecurrentDirection.gruBackward`'s Swift pass.
void recur_gru_backward_gates_avx512(int batch, int hidden, const float *z, const float *h_prev, const float *q, const float *dh,
                                     float *delta, float *delta_recurrent, float *dh_prev);

#endif
