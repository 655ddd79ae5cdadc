/*
 * The BLAS floor of `recur bench engine`: the same sequence of `cblas_sgemm` calls, on buffers of
 * the same shapes and strides, with every elementwise kernel (gates, column sums, optimizer)
 * left out. Its samples/s is what the engine would reach if its own code took no time, so
 * floor / Keras is the largest ratio any engine built on these OpenBLAS calls can show.
 *
 *   cc -O2 -march=native Tools/bench/blas_floor.c -o /tmp/blas_floor -lopenblas
 *   OPENBLAS_CORETYPE=SkylakeX /tmp/blas_floor lstm 1      # model, features
 *   OPENBLAS_CORETYPE=SkylakeX /tmp/blas_floor lstm 1 20 textbook
 *
 * Prints one JSON object per line like `recur bench engine --json`.
 * Mirrors Sources/RecurEngine/RecurrentDirection.swift: per step and direction, the projection
 * `x_t·K`, the recurrent product `h·U` (one per gate when recurrent dropout gives each gate its
 * own mask), then backward `Δ·Uᵀ`, `dU += hᵀΔ`, `dK += xᵀΔ` and, where a layer below needs it,
 * `Δ·Kᵀ`; micro-batches of 64 rows, 120 steps, batch 256.
 *
 * `textbook` runs the other classic order instead: per step only the two products that the
 * recurrence serialises (`h·U` and `Δ·Uᵀ`), and the projection, `dU`, `dK` and `Δ·Kᵀ` as one
 * GEMM each over all `T·B` rows. Any BLAS-based engine needs at least the per-step pair.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);
char *openblas_get_corename(void);

enum { BATCH = 256, MICRO = 64, STEPS = 120 };

typedef struct { int in, h, g, dirs, perGate, inputGrad; } Layer;

static float *buf(size_t n) {
    float *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

static void mm(int ta, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

typedef struct { float *K, *U, *UT, *KT, *dK, *dU, *states, *pre, *delta, *dh, *x, *dx, *preAll, *deltaAll; } Dir;

static int textbook = 0;

/* The textbook order: whole-sequence GEMMs before the forward loop and after the backward loop. */
static void layerWhole(const Layer *L, Dir *d, int fwd) {
    const int rows = MICRO * STEPS, h = L->h, gh = L->g * h, f = L->in;
    if (fwd) { mm(0, rows, gh, f, d->x, f, d->K, gh, 0, d->preAll, gh); return; }
    mm(1, h, gh, rows, d->states, h, d->deltaAll, gh, 1, d->dU, gh);
    mm(1, f, gh, rows, d->x, f, d->deltaAll, gh, 1, d->dK, gh);
    if (L->inputGrad) mm(0, rows, f, gh, d->deltaAll, gh, d->KT, f, 0, d->dx, f);
}

static void textbookStep(const Layer *L, Dir *d, int t, int fwd) {
    const int b = MICRO, h = L->h, gh = L->g * h;
    float *hPrev = d->states + (size_t)t * b * h;
    float *pre = d->preAll + (size_t)t * b * gh, *delta = d->deltaAll + (size_t)t * b * gh;
    if (fwd) {
        if (L->perGate)
            for (int k = 0; k < L->g; k++) mm(0, b, h, h, hPrev, h, d->U + k * h, gh, 1, pre + k * h, gh);
        else
            mm(0, b, gh, h, hPrev, h, d->U, gh, 1, pre, gh);
    } else if (L->perGate) {
        for (int k = 0; k < L->g; k++) mm(0, b, h, h, delta + k * h, gh, d->UT + k * h * h, h, 0, d->dh, h);
    } else {
        mm(0, b, h, gh, delta, gh, d->UT, h, 0, d->dh, h);
    }
}

static void layerStep(const Layer *L, Dir *d, int t, int fwd) {
    if (textbook) { textbookStep(L, d, t, fwd); return; }
    const int b = MICRO, h = L->h, gh = L->g * h, f = L->in;
    float *hPrev = d->states + (size_t)t * b * h;
    const float *xt = d->x + (size_t)t * b * f;
    if (fwd) {
        mm(0, b, gh, f, xt, f, d->K, gh, 0, d->pre, gh);
        if (L->perGate)
            for (int k = 0; k < L->g; k++) mm(0, b, h, h, hPrev, h, d->U + k * h, gh, 1, d->pre + k * h, gh);
        else
            mm(0, b, gh, h, hPrev, h, d->U, gh, 1, d->pre, gh);
        return;
    }
    if (L->perGate)
        for (int k = 0; k < L->g; k++) mm(0, b, h, h, d->delta + k * h, gh, d->UT + k * h * h, h, 0, d->dh, h);
    else
        mm(0, b, h, gh, d->delta, gh, d->UT, h, 0, d->dh, h);
    if (L->perGate)
        for (int k = 0; k < L->g; k++) mm(1, h, h, b, hPrev, h, d->delta + k * h, gh, 1, d->dU + k * h, gh);
    else
        mm(1, h, gh, b, hPrev, h, d->delta, gh, 1, d->dU, gh);
    mm(1, f, gh, b, xt, f, d->delta, gh, 1, d->dK, gh);
    if (L->inputGrad) mm(0, b, f, gh, d->delta, gh, d->KT, f, 0, d->dx + (size_t)t * b * f, f);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: blas_floor simple_rnn|lstm|gru|stacked_gru|bilstm FEATURES [ITERS]\n"); return 2; }
    const char *model = argv[1];
    int F = atoi(argv[2]), iters = argc > 3 ? atoi(argv[3]) : 20;
    textbook = argc > 4 && !strcmp(argv[4], "textbook");
    openblas_set_num_threads(1);
    Layer layers[2]; int n = 0;
    if (!strcmp(model, "simple_rnn")) layers[n++] = (Layer){F, 32, 1, 1, 0, 0};
    else if (!strcmp(model, "lstm")) layers[n++] = (Layer){F, 32, 4, 1, 0, 0};
    else if (!strcmp(model, "gru")) layers[n++] = (Layer){F, 32, 3, 1, 0, 0};
    else if (!strcmp(model, "bilstm")) layers[n++] = (Layer){F, 16, 4, 2, 0, 0};
    else if (!strcmp(model, "stacked_gru")) { layers[n++] = (Layer){F, 32, 3, 1, 1, 0}; layers[n++] = (Layer){32, 32, 3, 1, 1, 1}; }
    else { fprintf(stderr, "unknown model %s\n", model); return 2; }

    Dir dirs[2][2];
    for (int l = 0; l < n; l++)
        for (int s = 0; s < layers[l].dirs; s++) {
            const Layer *L = &layers[l]; const int gh = L->g * L->h; Dir *d = &dirs[l][s];
            d->K = buf((size_t)L->in * gh); d->U = buf((size_t)L->h * gh); d->UT = buf((size_t)gh * L->h); d->KT = buf((size_t)gh * L->in);
            d->dK = buf((size_t)L->in * gh); d->dU = buf((size_t)L->h * gh);
            d->states = buf((size_t)(STEPS + 1) * MICRO * L->h); d->pre = buf((size_t)MICRO * gh); d->delta = buf((size_t)MICRO * gh);
            d->dh = buf((size_t)MICRO * L->h); d->x = buf((size_t)STEPS * MICRO * L->in); d->dx = buf((size_t)STEPS * MICRO * L->in);
            d->preAll = textbook ? buf((size_t)STEPS * MICRO * gh) : NULL; d->deltaAll = textbook ? buf((size_t)STEPS * MICRO * gh) : NULL;
        }
    struct timespec t0, t1;
    double elapsed = 0;
    for (int it = -3; it < iters; it++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int mb = 0; mb < BATCH / MICRO; mb++) {
            for (int l = 0; l < n; l++)
                for (int s = 0; s < layers[l].dirs; s++) {
                    if (textbook) layerWhole(&layers[l], &dirs[l][s], 1);
                    for (int t = 0; t < STEPS; t++) layerStep(&layers[l], &dirs[l][s], t, 1);
                }
            for (int l = n - 1; l >= 0; l--)
                for (int s = 0; s < layers[l].dirs; s++) {
                    for (int t = STEPS - 1; t >= 0; t--) layerStep(&layers[l], &dirs[l][s], t, 0);
                    if (textbook) layerWhole(&layers[l], &dirs[l][s], 0);
                }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (it >= 0) elapsed += (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    }
    printf("{\"model\":\"%s\",\"order\":\"%s\",\"features\":%d,\"batch\":%d,\"seq_len\":%d,\"threads\":1,\"samples_per_sec\":%.1f,\"kernel\":\"%s\"}\n",
           model, textbook ? "textbook" : "engine", F, BATCH, STEPS, BATCH * iters / elapsed, openblas_get_corename());
    return 0;
}
