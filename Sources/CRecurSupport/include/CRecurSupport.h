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

#endif
