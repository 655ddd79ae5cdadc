/*
 * The FP32 FMA roofline of one core: twelve independent chains of vector FMAs (enough to cover
 * the FMA latency on both FMA pipes), no loads. `compare_engine.py` runs it in every round, so
 * peak GFLOP/s ÷ a model's FLOPs per sample bounds the samples/s of any FP32 engine that does
 * that model's products, whatever its kernels (its gate arithmetic, tape and optimizer extra).
 *
 *   cc -O2 -mavx512f -mfma Tools/bench/fma_peak.c -o /tmp/fma_peak     # AVX-512 CPUs
 *   cc -O2 -mavx2 -mfma Tools/bench/fma_peak.c -o /tmp/fma_peak        # AVX2 CPUs
 *
 * Prints {"gflops": G, "vector_bits": 512|256}, the best of five rounds.
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 V;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LANES 16
#else
typedef __m256 V;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define LANES 8
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define STEP(r) r = FMA(r, x, y)
#define KEEP(r) "+v"(r)

int main(void) {
    const V x = SET1(0.999999f), y = SET1(1e-7f);
    V a0 = SET1(1), a1 = SET1(2), a2 = SET1(3), a3 = SET1(4), a4 = SET1(5), a5 = SET1(6);
    V a6 = SET1(7), a7 = SET1(8), a8 = SET1(9), a9 = SET1(10), a10 = SET1(11), a11 = SET1(12);
    const long n = 50000000;
    double best = 0;
    for (int round = 0; round < 5; round++) {
        const double t = now();
        for (long k = 0; k < n; k++) {
            STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5);
            STEP(a6); STEP(a7); STEP(a8); STEP(a9); STEP(a10); STEP(a11);
            /* Keeps every chain in a register and the loop from being folded away. */
            __asm__ volatile("" : KEEP(a0), KEEP(a1), KEEP(a2), KEEP(a3), KEEP(a4), KEEP(a5), KEEP(a6), KEEP(a7), KEEP(a8), KEEP(a9),
                                  KEEP(a10), KEEP(a11));
        }
        const double gflops = n * 12.0 * LANES * 2 / (now() - t) / 1e9;
        if (gflops > best) best = gflops;
    }
    printf("{\"gflops\": %.1f, \"vector_bits\": %d}\n", best, LANES * 32);
    return 0;
}
