#ifndef CRECUR_SUPPORT_H
#define CRECUR_SUPPORT_H

/// Sets flush-to-zero and denormals-are-zero for the calling thread (MXCSR on x86, FPCR on arm64).
/// Returns 1 when the mode was set, 0 on an architecture where it is not supported.
int recur_enable_flush_denormals(void);

/// 1 when the calling thread flushes denormals to zero.
int recur_flush_denormals_enabled(void);

/// CPU feature flags as seen by the running process (cpuid), 0 on non-x86 machines.
int recur_cpu_has_avx512f(void);
int recur_cpu_has_avx2(void);

/// The CPU's vector features, comma-separated ("avx2,fma,avx512f…"), written into `out`; returns
/// the length. Workers send it when they register.
int recur_cpu_features(char *out, int size);

/// The instruction set the including code was compiled for (inline, so it reports the flags of
/// the Swift target that calls it, not of this C library): 2 AVX-512F, 1 AVX2 + FMA, 0 neither.
static inline int recur_compiled_vector_level(void) {
#if defined(__AVX512F__)
    return 2;
#elif defined(__AVX2__) && defined(__FMA__)
    return 1;
#else
    return 0;
#endif
}

/// Linux: asks for SIGTERM when the parent process (expected to be `expected_parent`) dies, and
/// raises it at once if that parent is already gone. Returns 0 where unsupported.
int recur_terminate_with_parent(int expected_parent);

/// Installs, for each of `signals`, a handler that writes the signal's number as one byte to a
/// pipe, and returns the pipe's read end (the same pipe on every call; -1 on failure). A plain
/// handler runs on whichever thread the kernel picks, so no signal is lost to a thread that does
/// not block it (a signalfd, which libdispatch uses on Linux, only sees blocked signals).
int recur_signal_pipe(const int *signals, int count);

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef float recur_float16 __attribute__((ext_vector_type(16)));

/// 1/x for 16 lanes, to about 1 ulp: AVX-512 `rcp14` plus one Newton step (no divider, which
/// serialises the gate kernels); a plain division elsewhere.
static inline __attribute__((always_inline)) recur_float16 recur_reciprocal16(recur_float16 x) {
#if defined(__x86_64__) && defined(__AVX512F__)
    __m512 v = (__m512)x;
    __m512 r = _mm512_rcp14_ps(v);
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(v, r, _mm512_set1_ps(2.0f)));
    return (recur_float16)r;
#else
    return 1.0f / x;
#endif
}

/// 1 where `recur_reciprocal16` divides exactly (every build below AVX-512, the portable one
/// included), 0 where it uses `rcp14`: evaluated in the including module's own target.
static inline __attribute__((always_inline)) int recur_reciprocal_is_exact(void) {
#if defined(__x86_64__) && defined(__AVX512F__)
    return 0;
#else
    return 1;
#endif
}

#endif
