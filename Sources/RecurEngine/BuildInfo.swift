import CRecurSupport

/// What `recur --version` reports and workers send when they register: the release, the
/// checkpoint format, and the CPU the engine was compiled for beside the one it runs on.
public enum BuildInfo {
    /// The release of Recur (and of its engine: they ship as one binary).
    public static let version = "0.2.0"
    /// The checkpoint format this engine reads and writes.
    public static let checkpointFormat = Checkpoint.format

    /// The `-target-cpu` the engine was built with (`RECUR_TARGET_CPU`, default `native`).
    public static var cpuTarget: String {
        #if RECUR_TARGET_CPU_NATIVE
        return "native"
        #elseif RECUR_TARGET_CPU_HASWELL
        return "haswell"
        #elseif RECUR_TARGET_CPU_X86_64_V3
        return "x86-64-v3"
        #elseif RECUR_TARGET_CPU_X86_64_V4
        return "x86-64-v4"
        #elseif RECUR_TARGET_CPU_SKYLAKE_AVX512
        return "skylake-avx512"
        #else
        return "other"
        #endif
    }

    /// The vector instructions the engine's kernels were compiled to use.
    public static var compiledFor: String {
        switch recur_compiled_vector_level() {
        case 2: return "AVX-512"
        case 1: return "AVX2+FMA"
        default: return "no AVX2"
        }
    }

    /// The vector instructions this machine's CPU offers.
    public static var thisCPU: String {
        recur_cpu_has_avx512f() != 0 ? "AVX-512" : recur_cpu_has_avx2() != 0 ? "AVX2" : "no AVX2"
    }

    /// One paragraph for `recur --version`.
    public static var summary: String {
        """
        recur \(version)
        API v1, checkpoints \(checkpointFormat)
        engine built for CPU target \(cpuTarget) (\(compiledFor)); this CPU has \(thisCPU)
        """
    }
}
