import CRecurKernels
import Foundation

/// Which code runs the engine's small matrix products: OpenBLAS, or Recur's own unpacked kernels
/// (`Sources/CRecurKernels`) for AVX2 + FMA or AVX-512, picked at run time from the CPU, so one
/// portable binary runs the widest kernels the machine has.
public enum GemmPath: Int, Sendable, CaseIterable, CustomStringConvertible {
    case blas = 0
    case avx2 = 1
    case avx512 = 2

    /// The path this process uses: the CPU's best, lowered by `RECUR_KERNELS=blas|avx2`.
    public static var detected: GemmPath { GemmPath(rawValue: Int(recur_kernels_detected())) ?? .blas }

    /// Every path this CPU can run, BLAS first.
    public static var available: [GemmPath] { allCases.filter { $0.rawValue <= Int(recur_kernels_supported()) } }

    /// Runs `body` with the calling thread's products on `path` (the engine's tests run each path).
    public static func with<T>(_ path: GemmPath, _ body: () throws -> T) rethrows -> T {
        precondition(available.contains(path), "this CPU cannot run the \(path) kernels")
        recur_kernels_set_thread(Int32(path.rawValue))
        defer { recur_kernels_set_thread(-1) }
        return try body()
    }

    /// Whether LSTM and GRU steps may run in C (`RecurrentDirection.fusesSteps` for the fused
    /// forward step, `runsGatePassesInC` for the other gate passes): on unless `RECUR_FUSED=0`,
    /// which measures the Swift path with the same binary; the engine's tests bind it to compare
    /// the two.
    @TaskLocal static var fusionEnabled = ProcessInfo.processInfo.environment["RECUR_FUSED"] != "0"

    /// Whether this process fuses LSTM and GRU steps where a model allows it: on the AVX-512
    /// kernels, in a build whose gate pass divides exactly, unless `RECUR_FUSED=0`.
    public static var fusesSteps: Bool { fusionEnabled && detected == .avx512 && RecurrentDirection.gatesDivideExactly }

    /// What `recur --version` and `recur bench engine` print.
    public var summary: String {
        switch self {
        case .blas: "BLAS (Recur's kernels off)"
        case .avx2: "Recur's AVX2 kernels (BLAS above \(Self.largestProduct) multiply-adds)"
        case .avx512:
            "Recur's AVX-512 kernels (BLAS above \(Self.largestProduct) multiply-adds)"
                + (Self.fusesSteps ? "; LSTM and GRU gates in AVX-512 C, fused with the forward products where the model allows" : "")
        }
    }

    public var description: String {
        switch self {
        case .blas: "blas"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }

    /// The largest product (`m·n·k`) the own kernels take; above it OpenBLAS's packed kernels win
    /// or tie. Measured by `recur bench gemm` (docs/performance.md §11) on AMD EPYC (Zen 3, AVX2):
    /// the unpacked kernel took 0.27–0.95× OpenBLAS's time at the per-step shapes (≤ 262k),
    /// 0.85–1.00× at 1M, and 0.99–1.95× at 4M and above, varying from run to run.
    static let largestProduct = 1 << 20
    /// The narrowest `n` they take: below a full 16-float panel, masked loads lose to OpenBLAS
    /// (the kernel took 1.01–1.23× its time at n = 8, 1.78–2.18× at n = 1).
    static let narrowestColumns = 16
}

extension GemmPath {
    /// Seconds per call of `C = op(A)·B` (`[m, k]·[k, n]`, row-major, `beta` 0) on this path,
    /// whatever the crossover says: the fastest of five rounds of `repetitions` calls. For
    /// `recur bench gemm`, which measures the crossover.
    public func secondsPerProduct(transA: Bool, m: Int, n: Int, k: Int, repetitions: Int) -> Double {
        let a = (0..<(m * k)).map { Float($0 % 7) * 0.1 - 0.3 }
        let b = (0..<(k * n)).map { Float($0 % 5) * 0.1 - 0.2 }
        var c = [Float](repeating: 0, count: m * n)
        let clock = ContinuousClock()
        var best = Double.infinity
        // The thread's override is set once, outside the timed calls; `gemm` then dispatches as
        // the engine does, minus the crossover, which the kernels' own entry points skip.
        GemmPath.with(self) {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        let (pa, pb, pc) = (ap.baseAddress!, bp.baseAddress!, cp.baseAddress!)
                        let lda = transA ? m : k
                        let t: Int32 = transA ? 1 : 0
                        for _ in 0..<5 {
                            let elapsed = clock.measure {
                                for _ in 0..<repetitions {
                                    switch self {
                                    case .blas: gemm(transA: transA, m: m, n: n, k: k, a: pa, lda: lda, b: pb, ldb: n, beta: 0, c: pc, ldc: n)
                                    case .avx2:
                                        recur_sgemm_avx2(t, Int32(m), Int32(n), Int32(k), pa, Int32(lda), pb, Int32(n), 0, pc, Int32(n))
                                    case .avx512:
                                        recur_sgemm_avx512(t, Int32(m), Int32(n), Int32(k), pa, Int32(lda), pb, Int32(n), 0, pc, Int32(n))
                                    }
                                }
                            }
                            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                            best = min(best, seconds / Double(repetitions))
                        }
                    }
                }
            }
        }
        return best
    }
}
