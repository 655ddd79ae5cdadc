import CRecurSupport
import Foundation
import RecurEngine

/// Works around OpenBLAS builds that do not recognise the CPU and fall back to generic kernels.
///
/// Debian 12's OpenBLAS 0.3.21 runs its "Prescott" kernels on Xeon family 6 model 207, 4–5×
/// slower than its SkylakeX kernels. OpenBLAS reads `OPENBLAS_CORETYPE` only when it loads, so
/// `recur` re-executes itself once with the best core type the CPU supports.
public enum BLASCoreSelection {
    /// Environment variable set on the re-executed process, so it never loops.
    static let marker = "RECUR_BLAS_REEXEC"

    /// How capable a kernel family is: 0 generic/SSE, 1 AVX, 2 AVX2, 3 AVX-512.
    static func rank(ofCore core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "skylake": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 1
        default: return 0
        }
    }

    /// The `OPENBLAS_CORETYPE` to restart with, or nil to keep the current kernels.
    ///
    /// - Parameters:
    ///   - coreName: `openblas_get_corename()`.
    ///   - hasAVX512: the CPU supports AVX-512F.
    ///   - hasAVX2: the CPU supports AVX2.
    ///   - environment: the process environment; an explicit `OPENBLAS_CORETYPE` always wins.
    public static func coreTypeToForce(coreName: String, hasAVX512: Bool, hasAVX2: Bool, environment: [String: String]) -> String? {
        if environment["OPENBLAS_CORETYPE"] != nil || environment[marker] != nil { return nil }
        let (target, targetRank) = hasAVX512 ? ("SkylakeX", 3) : hasAVX2 ? ("Haswell", 2) : ("", 0)
        guard targetRank > 0, rank(ofCore: coreName) < targetRank else { return nil }
        return target
    }

    /// Variables to set before OpenBLAS loads, or an empty map when no restart is needed: the core
    /// type when the kernels are too generic, and one BLAS thread unless the user chose a count
    /// (idle OpenBLAS threads spin and steal the core that a second trial runs on).
    public static func environmentForRestart(coreName: String, hasAVX512: Bool, hasAVX2: Bool, environment: [String: String]) -> [String: String] {
        if environment[marker] != nil { return [:] }
        var changes: [String: String] = [:]
        if let core = coreTypeToForce(coreName: coreName, hasAVX512: hasAVX512, hasAVX2: hasAVX2, environment: environment) {
            changes["OPENBLAS_CORETYPE"] = core
        }
        if environment["OPENBLAS_NUM_THREADS"] == nil && environment["OMP_NUM_THREADS"] == nil {
            changes["OPENBLAS_NUM_THREADS"] = "1"
        }
        return changes
    }

    /// Re-executes the current process with the variables above when they are needed.
    /// Returns only when no restart is needed (or `execv` failed).
    public static func reexecIfNeeded(verbose: Bool) {
        #if os(Linux)
        let info = BLASInfo.current
        let environment = ProcessInfo.processInfo.environment
        let isOpenBLAS = info.library == "OpenBLAS"
        let changes =
            isOpenBLAS
            ? environmentForRestart(
                coreName: info.coreName,
                hasAVX512: recur_cpu_has_avx512f() != 0,
                hasAVX2: recur_cpu_has_avx2() != 0,
                environment: environment
            ) : [:]
        guard !changes.isEmpty else {
            if verbose {
                let threads = environment["OPENBLAS_NUM_THREADS"] ?? environment["OMP_NUM_THREADS"] ?? "OpenBLAS's default"
                let blas = isOpenBLAS ? "OpenBLAS \(info.coreName) kernels, threads: \(threads)" : info.library
                FileHandle.standardError.write(Data("recur: \(blas); small products on \(GemmPath.detected.summary)\n".utf8))
            }
            return
        }
        if verbose, let core = changes["OPENBLAS_CORETYPE"] {
            FileHandle.standardError.write(
                Data(
                    "recur: OpenBLAS picked its \(info.coreName) kernels on a CPU that supports \(core); restarting with OPENBLAS_CORETYPE=\(core)\n"
                        .utf8
                )
            )
        }
        for (key, value) in changes { setenv(key, value, 1) }
        setenv(marker, "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        #endif
    }
}
