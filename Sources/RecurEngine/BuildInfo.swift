import CRecurSupport

/// What `recur --version` reports and workers send when they register: the release, the
/// checkpoint format, and the CPU the engine was compiled for beside the one it runs on.
public enum BuildInfo {
    /// The release of Recur (and of its engine: they ship as one binary).
    public static let version = "0.2.0"
    /// The engine's numeric version: raised whenever a trial's numbers could change (a formula,
    /// a kernel's summation order, an initialiser). A sweep pins its creator's, so every trial of
    /// it is comparable.
    public static let engineVersion = "0.3.1"
    /// The checkpoint format this engine reads and writes.
    public static let checkpointFormat = Checkpoint.format

    /// This CPU's vector features, comma-separated, as workers report them.
    public static var cpuFeatures: String {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = recur_cpu_features(&buffer, Int32(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The `-target-cpu` the engine was built with (`RECUR_TARGET_CPU`, default `haswell`, the
    /// x86-64-v3 level).
    public static var cpuTarget: String {
        #if RECUR_TARGET_CPU_NATIVE
        return "native"
        #elseif RECUR_TARGET_CPU_HASWELL
        return "haswell (x86-64-v3)"
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
        engine \(engineVersion), API v1, checkpoints \(checkpointFormat)
        engine built for CPU target \(cpuTarget) (\(compiledFor)); this CPU has \(thisCPU)
        small products on \(GemmPath.detected.summary)
        """
    }
}
