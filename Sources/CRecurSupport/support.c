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

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/// `name,` appended to `out` when the CPU has it (the builtin takes literals only).
#define RECUR_FEATURE(lit, out, size) \
    if (__builtin_cpu_supports(lit)) { strncat(out, lit ",", size - strlen(out) - 1); }

int recur_cpu_features(char *out, int size) {
    if (size < 1) return 0;
    out[0] = 0;
    __builtin_cpu_init();
    RECUR_FEATURE("sse4.2", out, size)
    RECUR_FEATURE("avx", out, size)
    RECUR_FEATURE("avx2", out, size)
    RECUR_FEATURE("fma", out, size)
    RECUR_FEATURE("bmi2", out, size)
    RECUR_FEATURE("avx512f", out, size)
    RECUR_FEATURE("avx512bw", out, size)
    RECUR_FEATURE("avx512vl", out, size)
    RECUR_FEATURE("avx512dq", out, size)
    RECUR_FEATURE("avx512vnni", out, size)
    RECUR_FEATURE("avx512bf16", out, size)
    size_t n = strlen(out);
    if (n > 0) out[n - 1] = 0;
    return (int)n;
}

/// Runs before Swift's `main`, so no instruction of the build's baseline has run yet: a CPU
/// without one gets a line naming it and exit 1 instead of SIGILL halfway through.
__attribute__((constructor)) static void recur_check_cpu_baseline(void) {
    __builtin_cpu_init();
    char missing[128] = "";
#define RECUR_NEED(lit) \
    if (!__builtin_cpu_supports(lit)) { strncat(missing, missing[0] ? ", " lit : lit, sizeof missing - strlen(missing) - 1); }
#if defined(RECUR_REQUIRE_AVX)
    RECUR_NEED("avx")
#endif
#if defined(RECUR_REQUIRE_AVX2)
    RECUR_NEED("avx2")
#endif
#if defined(RECUR_REQUIRE_FMA)
    RECUR_NEED("fma")
#endif
#if defined(RECUR_REQUIRE_BMI)
    RECUR_NEED("bmi")
#endif
#if defined(RECUR_REQUIRE_BMI2)
    RECUR_NEED("bmi2")
#endif
#if defined(RECUR_REQUIRE_F16C)
    RECUR_NEED("f16c")
#endif
#if defined(RECUR_REQUIRE_AVX512F)
    RECUR_NEED("avx512f")
#endif
#if defined(RECUR_REQUIRE_AVX512BW)
    RECUR_NEED("avx512bw")
#endif
#if defined(RECUR_REQUIRE_AVX512VL)
    RECUR_NEED("avx512vl")
#endif
#if defined(RECUR_REQUIRE_AVX512DQ)
    RECUR_NEED("avx512dq")
#endif
#if defined(RECUR_REQUIRE_AVX512CD)
    RECUR_NEED("avx512cd")
#endif
#undef RECUR_NEED
    if (missing[0]) {
#if defined(RECUR_TARGET_CPU_NAME)
        const char *target = RECUR_TARGET_CPU_NAME;
#else
        const char *target = "?";
#endif
        fprintf(stderr,
                "recur: this binary was built for CPU target %s and this CPU lacks %s; "
                "build recur on this machine (RECUR_TARGET_CPU=native swift build -c release) or use a build for an older target\n",
                target, missing);
        _exit(1);
    }
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
int recur_cpu_features(char *out, int size) { if (size > 0) out[0] = 0; return 0; }

#else
int recur_enable_flush_denormals(void) { return 0; }
int recur_flush_denormals_enabled(void) { return 0; }
int recur_cpu_has_avx512f(void) { return 0; }
int recur_cpu_has_avx2(void) { return 0; }
int recur_cpu_features(char *out, int size) { if (size > 0) out[0] = 0; return 0; }
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

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static int recur_signal_fds[2] = {-1, -1};

static void recur_signal_write(int sig) {
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    /* Non-blocking: a full pipe drops the byte, and the reader already has one waiting. */
    (void)!write(recur_signal_fds[1], &byte, 1);
    errno = saved;
}

int recur_signal_pipe(const int *signals, int count) {
    if (recur_signal_fds[0] < 0) {
        int fds[2];
        if (pipe(fds) != 0) return -1;
        fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        fcntl(fds[1], F_SETFD, FD_CLOEXEC);
        fcntl(fds[1], F_SETFL, O_NONBLOCK);
        recur_signal_fds[0] = fds[0];
        recur_signal_fds[1] = fds[1];
    }
    struct sigaction action;
    action.sa_handler = recur_signal_write;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigset_t unblock;
    sigemptyset(&unblock);
    for (int i = 0; i < count; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
        sigaddset(&unblock, signals[i]);
    }
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    return recur_signal_fds[0];
}
