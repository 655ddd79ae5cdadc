/*
 * LSTM and GRU (reset_after) steps on AVX-512: the forward step with its gates fused into the
 * products, and the backward gate pass.
 *
 * Forward: the step's `x_t·K` and `h_{t−1}·U` are summed in registers and the gate arithmetic
 * is applied to them there, so the `[B, G·H]` pre-activations are never stored and read back,
 * and the gates' adds, min/max and divisions overlap the next block's FMAs. A block is R rows × 16 units of
 * every gate: the gates of a unit are H columns apart in Keras's layout, so each k loads one
 * vector per gate of a weight row.
 *
 * Every lane runs the operations of the engine's unfused path in the same order: each product
 * summed from zero with one FMA per k (`recur_sgemm*_avx512` and `_avx2` do the same), then the
 * Swift gate pass of `RecurrentDirection` (Eigen's tanh fraction, one division for several
 * gates' denominators). So fused and unfused steps, and AVX2 and AVX-512 workers, give the same
 * bits. AVX2 has no fused step: with 16 registers the block (8 accumulators and four weight
 * vectors) ran slower than the unfused pair on Zen 4 (docs/performance.md §11).
 *
 * Every gate reads the same `x_t` and `h_{t−1}`, so one broadcast of a row's element feeds all
 * of a unit's gates. Under recurrent dropout each gate reads its own `h ⊙ m_k`: a variant that
 * broadcast per gate (one broadcast per FMA) made whole LSTM training runs take 1.3–1.4× as long
 * and the stacked GRU's 1.03× on Zen 4, so those steps stay unfused.
 */
#include "CRecurKernels.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define FN __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define INLINE inline __attribute__((always_inline))
#define V __m512
#define SET1(x) _mm512_set1_ps(x)
#define LD(p) _mm512_maskz_loadu_ps(m, (p))
#define ST(p, v) _mm512_mask_storeu_ps((p), m, (v))
#define ADD(a, b) _mm512_add_ps((a), (b))
#define SUB(a, b) _mm512_sub_ps((a), (b))
#define MUL(a, b) _mm512_mul_ps((a), (b))
#define FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define RECIP(x) _mm512_div_ps(_mm512_set1_ps(1.0f), (x))

/* The lanes of units [j, j + 16) that exist among `h`: all 16, or a tail. */
static inline __mmask16 unit_mask(int h, int j) { return (__mmask16)(h - j >= 16 ? 0xFFFF : (1u << (h - j)) - 1); }

/* `(p, q)` with `p/q = tanh(x)`: Eigen's rational form on `x` clamped to ±7.905 (Activations.swift). */
static FN INLINE void tanh_fraction(V x, V *p, V *q) {
    const V xc = _mm512_min_ps(_mm512_max_ps(x, SET1(-7.90531110763549805f)), SET1(7.90531110763549805f));
    const V x2 = MUL(xc, xc);
    V a = SET1(-2.76076847742355e-16f);
    a = FMA(a, x2, SET1(2.00018790482477e-13f));
    a = FMA(a, x2, SET1(-8.60467152213735e-11f));
    a = FMA(a, x2, SET1(5.12229709037114e-08f));
    a = FMA(a, x2, SET1(1.48572235717979e-05f));
    a = FMA(a, x2, SET1(6.37261928875436e-04f));
    a = FMA(a, x2, SET1(4.89352455891786e-03f));
    V b = SET1(1.19825839466702e-06f);
    b = FMA(b, x2, SET1(1.18534705686654e-04f));
    b = FMA(b, x2, SET1(2.26843463243900e-03f));
    b = FMA(b, x2, SET1(4.89352518554385e-03f));
    *p = MUL(a, xc);
    *q = b;
}

/* σ from the fraction of tanh(x/2) and its reciprocal denominator: ½ + ½·p·r. */
static FN INLINE V sigmoid_of(V p, V r) { return FMA(MUL(SET1(0.5f), p), r, SET1(0.5f)); }

/* ACC[r][g] += Σ_p a[r, p]·b[p, g·H + j] for the R rows of a block: one term of a product, one
 * broadcast per row and k for all G gates. Uses the block's `h` (units), `i` (first row), `j`
 * (first unit) and `m` (unit mask), as LD and ST use `m`. */
#define TERM(R, G, ACC, K, A, LDA, B, LDB)                                                          \
    for (int p = 0; p < (K); p++) {                                                                 \
        V bv[G];                                                                                    \
        for (int g = 0; g < G; g++) bv[g] = LD((B) + (long)p * (LDB) + g * h + j);                  \
        for (int r = 0; r < R; r++) {                                                               \
            const V av = SET1((A)[(long)(i + r) * (LDA) + p]);                                      \
            for (int g = 0; g < G; g++) ACC[r][g] = FMA(av, bv[g], ACC[r][g]);                      \
        }                                                                                           \
    }

/* ---- LSTM: gates i f c o; c_t = f⊙c_{t−1} + i⊙g; h_t = o⊙tanh(c_t) ---- */

struct lstm_step {
    int hidden, features;
    const float *x, *h_prev;
    const float *kernel, *recurrent, *bias, *c_prev;
    float *z, *c_out, *h_out;
};

/* One row's gates for units [j, j + 16), from its summed products `acc` (RecurrentDirection.lstmForward). */
static FN INLINE void lstm_gates(const struct lstm_step *s, const V *acc, int row, int j, __mmask16 m) {
    const int h = s->hidden;
    const float *bias = s->bias + j;
    const V half = SET1(0.5f);
    V pi, qi, pf, qf, pg, qg, po, qo;
    tanh_fraction(MUL(ADD(acc[0], LD(bias)), half), &pi, &qi);
    tanh_fraction(MUL(ADD(acc[1], LD(bias + h)), half), &pf, &qf);
    tanh_fraction(ADD(acc[2], LD(bias + 2 * h)), &pg, &qg);
    tanh_fraction(MUL(ADD(acc[3], LD(bias + 3 * h)), half), &po, &qo);
    /* (1/qi, 1/qf, 1/qg, 1/qo) with one division, as `reciprocals(_:_:_:_:)`. */
    const V ab = MUL(qi, qf), cd = MUL(qg, qo);
    const V inverse = RECIP(MUL(ab, cd));
    const V inv_ab = MUL(inverse, cd), inv_cd = MUL(inverse, ab);
    const V ig = sigmoid_of(pi, MUL(inv_ab, qf));
    const V fg = sigmoid_of(pf, MUL(inv_ab, qi));
    const V gg = MUL(pg, MUL(inv_cd, qo));
    const V og = sigmoid_of(po, MUL(inv_cd, qg));
    const long o = (long)row * h + j;
    const V c = FMA(fg, LD(s->c_prev + o), MUL(ig, gg));
    V pc, qc;
    tanh_fraction(c, &pc, &qc);
    float *z = s->z + (long)row * 4 * h + j;
    ST(z, ig);
    ST(z + h, fg);
    ST(z + 2 * h, gg);
    ST(z + 3 * h, og);
    ST(s->c_out + o, c);
    ST(s->h_out + o, MUL(og, MUL(pc, RECIP(qc))));
}

#define LSTM_BLOCK(R)                                                                               \
    static FN void lstm_block_##R(const struct lstm_step *s, int i, int j, __mmask16 m) {           \
        const int h = s->hidden;                                                                    \
        V acc[R][4];                                                                                \
        for (int r = 0; r < R; r++)                                                                 \
            for (int g = 0; g < 4; g++) acc[r][g] = _mm512_setzero_ps();                            \
        TERM(R, 4, acc, s->features, s->x, s->features, s->kernel, 4 * h)                           \
        TERM(R, 4, acc, h, s->h_prev, h, s->recurrent, 4 * h)                                       \
        for (int r = 0; r < R; r++) lstm_gates(s, acc[r], i + r, j, m);                             \
    }
LSTM_BLOCK(1)
LSTM_BLOCK(2)
LSTM_BLOCK(3)
LSTM_BLOCK(4)
static void (*const lstm_blocks[])(const struct lstm_step *, int, int, __mmask16) = {0, lstm_block_1, lstm_block_2, lstm_block_3, lstm_block_4};

/* ---- GRU (reset_after): ĥ = tanh(x K_h + b^x_h + r ⊙ (h U_h + b^h_h)); h_t = z⊙h_{t−1} + (1−z)⊙ĥ ---- */

struct gru_step {
    int hidden, features;
    const float *x, *h_prev;
    const float *kernel, *recurrent, *folded, *recurrent_bias;
    float *z, *q, *h_out;
};

/* One row's gates from `x_t·K` (acc[0..2]) and `h·U` (acc[3..5]), kept apart as the unfused
 * path sums them apart (RecurrentDirection.gruForward). */
static FN INLINE void gru_gates(const struct gru_step *s, const V *acc, int row, int j, __mmask16 m) {
    const int h = s->hidden;
    const float *folded = s->folded + j;
    const V half = SET1(0.5f);
    V pz, qz, pr, qr, ph, qh;
    tanh_fraction(MUL(ADD(ADD(acc[0], acc[3]), LD(folded)), half), &pz, &qz);
    tanh_fraction(MUL(ADD(ADD(acc[1], acc[4]), LD(folded + h)), half), &pr, &qr);
    /* (1/qz, 1/qr) with one division, as `reciprocals(_:_:)`. */
    const V inverse = RECIP(MUL(qz, qr));
    const V zg = sigmoid_of(pz, MUL(inverse, qr));
    const V rg = sigmoid_of(pr, MUL(inverse, qz));
    const V qv = ADD(acc[5], LD(s->recurrent_bias + j + 2 * h));
    tanh_fraction(FMA(rg, qv, ADD(acc[2], LD(folded + 2 * h))), &ph, &qh);
    const V hh = MUL(ph, RECIP(qh));
    const long o = (long)row * h + j;
    float *z = s->z + (long)row * 3 * h + j;
    ST(z, zg);
    ST(z + h, rg);
    ST(z + 2 * h, hh);
    ST(s->q + o, qv);
    ST(s->h_out + o, FMA(zg, SUB(LD(s->h_prev + o), hh), hh));
}

#define GRU_BLOCK(R)                                                                                \
    static FN void gru_block_##R(const struct gru_step *s, int i, int j, __mmask16 m) {             \
        const int h = s->hidden;                                                                    \
        V acc[R][3], rec[R][3];                                                                     \
        for (int r = 0; r < R; r++)                                                                 \
            for (int g = 0; g < 3; g++) acc[r][g] = rec[r][g] = _mm512_setzero_ps();                \
        TERM(R, 3, acc, s->features, s->x, s->features, s->kernel, 3 * h)                           \
        TERM(R, 3, rec, h, s->h_prev, h, s->recurrent, 3 * h)                                       \
        for (int r = 0; r < R; r++) {                                                               \
            const V row[6] = {acc[r][0], acc[r][1], acc[r][2], rec[r][0], rec[r][1], rec[r][2]};    \
            gru_gates(s, row, i + r, j, m);                                                         \
        }                                                                                           \
    }
GRU_BLOCK(1)
GRU_BLOCK(2)
GRU_BLOCK(3)
GRU_BLOCK(4)
static void (*const gru_blocks[])(const struct gru_step *, int, int, __mmask16) = {0, gru_block_1, gru_block_2, gru_block_3, gru_block_4};

/* ---- Forward gate passes after products made apart (recurrent dropout's per-gate products, or
 * products OpenBLAS takes): the fused kernels' gate code on pre-activations read from memory,
 * for the same reason as the backward passes below. ---- */

FN void recur_lstm_gates_avx512(int batch, int hidden, const float *pre, const float *bias, const float *c_prev, float *z, float *c_out,
                                float *h_out) {
    const int h = hidden;
    const struct lstm_step s = {hidden, 0, NULL, NULL, NULL, NULL, bias, c_prev, z, c_out, h_out};
    for (int r = 0; r < batch; r++) {
        const float *x = pre + (long)r * 4 * h;
        for (int j = 0; j < h; j += 16) {
            const __mmask16 m = unit_mask(h, j);
            const V acc[4] = {LD(x + j), LD(x + h + j), LD(x + 2 * h + j), LD(x + 3 * h + j)};
            lstm_gates(&s, acc, r, j, m);
        }
    }
}

FN void recur_gru_gates_avx512(int batch, int hidden, const float *pre, const float *slab, const float *folded_bias,
                               const float *recurrent_bias, const float *h_prev, float *z, float *q_out, float *h_out) {
    const int h = hidden;
    const struct gru_step s = {hidden, 0, NULL, h_prev, NULL, NULL, folded_bias, recurrent_bias, z, q_out, h_out};
    for (int r = 0; r < batch; r++) {
        const float *x = pre + (long)r * 3 * h, *rec = slab + (long)r * 3 * h;
        for (int j = 0; j < h; j += 16) {
            const __mmask16 m = unit_mask(h, j);
            const V acc[6] = {LD(x + j), LD(x + h + j), LD(x + 2 * h + j), LD(rec + j), LD(rec + h + j), LD(rec + 2 * h + j)};
            gru_gates(&s, acc, r, j, m);
        }
    }
}

/* ---- Backward gate passes: Δ_t from dh and the tape, lane for lane as the Swift passes ----
 * No products here: the gain is the register file. The portable build compiles the Swift pass
 * for x86-64-v3, so each 16-lane vector is two AVX2 halves and LSTM's tanh spills to the stack;
 * here it is one AVX-512 register and nothing spills (LSTM at F = 1: the pass fell from 14 % to
 * 8 % of a training step's samples, docs/performance.md §11). */

/* RecurrentDirection.lstmBackward's gate pass for units [j, j + 16) of one row. */
static FN INLINE void lstm_backward_lanes(int h, const float *zr, const float *c_prev, const float *c_out, const float *dh, float *dc,
                                          float *dr, int j, __mmask16 m) {
    const V one = SET1(1.0f);
    const V ig = LD(zr + j), fg = LD(zr + h + j), gg = LD(zr + 2 * h + j), og = LD(zr + 3 * h + j);
    V pc, qc;
    tanh_fraction(LD(c_out + j), &pc, &qc);
    const V tc = MUL(pc, RECIP(qc));
    const V dhv = LD(dh + j);
    const V dcv = FMA(MUL(dhv, og), SUB(one, MUL(tc, tc)), LD(dc + j));
    ST(dr + j, MUL(MUL(MUL(dcv, gg), ig), SUB(one, ig)));
    ST(dr + h + j, MUL(MUL(MUL(dcv, LD(c_prev + j)), fg), SUB(one, fg)));
    ST(dr + 2 * h + j, MUL(MUL(dcv, ig), SUB(one, MUL(gg, gg))));
    ST(dr + 3 * h + j, MUL(MUL(MUL(dhv, tc), og), SUB(one, og)));
    ST(dc + j, MUL(dcv, fg));
}

FN void recur_lstm_backward_gates_avx512(int batch, int hidden, const float *z, const float *c_prev, const float *c_out, const float *dh,
                                         float *dc, float *delta) {
    const int h = hidden;
    for (int r = 0; r < batch; r++) {
        const long o = (long)r * h, zo = (long)r * 4 * h;
        for (int j = 0; j < h; j += 16) {
            const __mmask16 m = unit_mask(h, j);
            lstm_backward_lanes(h, z + zo, c_prev + o, c_out + o, dh + o, dc + o, delta + zo, j, m);
        }
    }
}

/* RecurrentDirection.gruBackward's gate pass (reset_after) for units [j, j + 16) of one row:
 * the input-side Δ, the recurrent-side Δ (candidate block scaled by r) and dh_{t−1}'s direct term. */
static FN INLINE void gru_backward_lanes(int h, const float *zr, const float *h_prev, const float *q, const float *dh, float *dr,
                                         float *rr, float *dh_prev, int j, __mmask16 m) {
    const V one = SET1(1.0f);
    const V zg = LD(zr + j), rg = LD(zr + h + j), hh = LD(zr + 2 * h + j);
    const V dhv = LD(dh + j);
    const V dhh = MUL(MUL(dhv, SUB(one, zg)), SUB(one, MUL(hh, hh)));
    const V dz = MUL(MUL(MUL(dhv, SUB(LD(h_prev + j), hh)), zg), SUB(one, zg));
    const V dre = MUL(MUL(MUL(dhh, LD(q + j)), rg), SUB(one, rg));
    ST(dr + j, dz);
    ST(dr + h + j, dre);
    ST(dr + 2 * h + j, dhh);
    ST(rr + j, dz);
    ST(rr + h + j, dre);
    ST(rr + 2 * h + j, MUL(dhh, rg));
    ST(dh_prev + j, MUL(dhv, zg));
}

FN void recur_gru_backward_gates_avx512(int batch, int hidden, const float *z, const float *h_prev, const float *q, const float *dh,
                                        float *delta, float *delta_recurrent, float *dh_prev) {
    const int h = hidden;
    for (int r = 0; r < batch; r++) {
        const long o = (long)r * h, zo = (long)r * 3 * h;
        for (int j = 0; j < h; j += 16) {
            const __mmask16 m = unit_mask(h, j);
            gru_backward_lanes(h, z + zo, h_prev + o, q + o, dh + o, delta + zo, delta_recurrent + zo, dh_prev + o, j, m);
        }
    }
}

/* Row blocks of at most 4, as even as possible (as sgemm.c's `drive`); units 16 at a time. */
#define DRIVE(BLOCKS, S, BATCH)                                                                     \
    do {                                                                                            \
        const int blocks = ((BATCH) + 3) / 4;                                                       \
        for (int j = 0; j < (S)->hidden; j += 16) {                                                 \
            const __mmask16 m = unit_mask((S)->hidden, j);                                          \
            for (int q = 0, i = 0; q < blocks; q++) {                                               \
                const int rows = ((BATCH) - i) / (blocks - q);                                      \
                (BLOCKS)[rows]((S), i, j, m);                                                       \
                i += rows;                                                                          \
            }                                                                                       \
        }                                                                                           \
    } while (0)

void recur_lstm_step_avx512(int batch, int hidden, int features, const float *x, const float *kernel, const float *h_prev,
                            const float *recurrent, const float *bias, const float *c_prev, float *z, float *c_out, float *h_out) {
    const struct lstm_step s = {hidden, features, x, h_prev, kernel, recurrent, bias, c_prev, z, c_out, h_out};
    DRIVE(lstm_blocks, &s, batch);
}

void recur_gru_step_avx512(int batch, int hidden, int features, const float *x, const float *kernel, const float *h_prev,
                           const float *recurrent, const float *folded_bias, const float *recurrent_bias, float *z, float *q_out,
                           float *h_out) {
    const struct gru_step s = {hidden, features, x, h_prev, kernel, recurrent, folded_bias, recurrent_bias, z, q_out, h_out};
    DRIVE(gru_blocks, &s, batch);
}

#else /* not x86-64: the engine never calls these (no kernels there) */

void recur_lstm_step_avx512(int batch, int hidden, int features, const float *x, const float *kernel, const float *h_prev,
                            const float *recurrent, const float *bias, const float *c_prev, float *z, float *c_out, float *h_out) {
    (void)batch; (void)hidden; (void)features; (void)x; (void)kernel; (void)h_prev; (void)recurrent; (void)bias; (void)c_prev;
    (void)z; (void)c_out; (void)h_out;
    abort();
}
void recur_gru_step_avx512(int batch, int hidden, int features, const float *x, const float *kernel, const float *h_prev,
                           const float *recurrent, const float *folded_bias, const float *recurrent_bias, float *z, float *q_out,
                           float *h_out) {
    (void)batch; (void)hidden; (void)features; (void)x; (void)kernel; (void)h_prev; (void)recurrent; (void)folded_bias;
    (void)recurrent_bias; (void)z; (void)q_out; (void)h_out;
    abort();
}

void recur_lstm_backward_gates_avx512(int batch, int hidden, const float *z, const float *c_prev, const float *c_out, const float *dh,
                                         float *dc, float *delta) {
    (void)batch; (void)hidden; (void)z; (void)c_prev; (void)c_out; (void)dh; (void)dc; (void)delta;
    abort();
}

void recur_gru_backward_gates_avx512(int batch, int hidden, const float *z, const float *h_prev, const float *q, const float *dh,
                                     float *delta, float *delta_recurrent, float *dh_prev) {
    (void)batch; (void)hidden; (void)z; (void)h_prev; (void)q; (void)dh; (void)delta; (void)delta_recurrent; (void)dh_prev;
    abort();
}

void recur_lstm_gates_avx512(int batch, int hidden, const float *pre, const float *bias, const float *c_prev, float *z, float *c_out,
                             float *h_out) {
    (void)batch; (void)hidden; (void)pre; (void)bias; (void)c_prev; (void)z; (void)c_out; (void)h_out;
    abort();
}
void recur_gru_gates_avx512(int batch, int hidden, const float *pre, const float *slab, const float *folded_bias,
                            const float *recurrent_bias, const float *h_prev, float *z, float *q_out, float *h_out) {
    (void)batch; (void)hidden; (void)pre; (void)slab; (void)folded_bias; (void)recurrent_bias; (void)h_prev; (void)z; (void)q_out;
    (void)h_out;
    abort();
}
#endif
