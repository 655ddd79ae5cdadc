#include "CRecurSupport.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#include <pmmintrin.h>

int recur_enable_flush_denormals(void) {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
    return 1;
}

int recur_flush_denormals_enabled(void) {
    return (_mm_getcsr() & 0x8040) == 0x8040;
}

int recur_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

int recur_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

#elif defined(__aarch64__)
#include <stdint.h>

int recur_enable_flush_denormals(void) {
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    fpcr |= (1ULL << 24);
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
    return 1;
}

int recur_flush_denormals_enabled(void) {
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    return (fpcr & (1ULL << 24)) != 0;
}

int recur_cpu_has_avx512f(void) { return 0; }
int recur_cpu_has_avx2(void) { return 0; }

#else
int recur_enable_flush_denormals(void) { return 0; }
int recur_flush_denormals_enabled(void) { return 0; }
int recur_cpu_has_avx512f(void) { return 0; }
int recur_cpu_has_avx2(void) { return 0; }
#endif

#if defined(__linux__)
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

int recur_terminate_with_parent(int expected_parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return 0;
    /* The parent may have died before the call. */
    if (getppid() != expected_parent) raise(SIGTERM);
    return 1;
}
#else
int recur_terminate_with_parent(int expected_parent) { (void)expected_parent; return 0; }
#endif
