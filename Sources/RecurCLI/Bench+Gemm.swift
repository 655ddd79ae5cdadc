import ArgumentParser
import Foundation
import RecurEngine

extension Bench {
    /// Where Recur's own GEMM kernels beat the BLAS: the measurement behind `GemmPath`'s crossover.
    struct GemmBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gemm",
            abstract: "Small matrix products: OpenBLAS against Recur's kernels on this CPU (µs per call).",
            discussion: """
                Times C = op(A)·B at the recurrent layers' per-step shapes (micro-batch 64; widths
                16-128) and at larger ones, on every path this CPU runs, one thread. The engine uses
                its own kernels for n ≥ 16 and m·n·k ≤ 2^20 (docs/performance.md §11).

                Example:
                  swift build -c release && .build/release/recur bench gemm
                """
        )

        @Flag(help: "One JSON object per shape and line.") var json = false
        @OptionGroup var global: GlobalOptions

        /// (transA, m, n, k): h·U, Δ·Uᵀ, hᵀΔ, x·K and xᵀΔ of the lecture's models, then wider ones.
        static let shapes: [(Bool, Int, Int, Int)] = [
            (false, 64, 128, 32), (false, 64, 96, 32), (false, 64, 32, 32), (false, 64, 64, 16),
            (false, 64, 32, 128), (false, 64, 32, 96), (false, 64, 16, 64),
            (true, 32, 128, 64), (true, 32, 96, 64), (true, 16, 64, 64), (true, 14, 128, 64), (true, 1, 128, 64),
            (false, 64, 128, 14), (false, 64, 128, 1), (false, 64, 14, 96), (false, 64, 8, 64), (false, 256, 1, 32),
            (false, 64, 256, 64), (false, 64, 512, 128), (true, 128, 512, 64), (false, 256, 512, 128), (false, 64, 1024, 256),
        ]

        func run() throws {
            TrainingThread.prepare()
            let blas = BLASInfo.current
            let paths = GemmPath.available
            if !json {
                print("BLAS: \(blas.library), kernel \(blas.coreName); this CPU runs: \(paths.map(\.description).joined(separator: ", "))")
                print("op  m    n    k     " + paths.map { $0.description.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined() + "best")
            }
            for (transA, m, n, k) in Self.shapes {
                let repetitions = max(20, 2_000_000 / max(1, m * n * k))
                let micros = paths.map { $0.secondsPerProduct(transA: transA, m: m, n: n, k: k, repetitions: repetitions) * 1e6 }
                let best = paths[micros.indices.min { micros[$0] < micros[$1] }!]
                if json {
                    var object: [String: Any] = ["trans_a": transA, "m": m, "n": n, "k": k, "best": best.description]
                    for (path, us) in zip(paths, micros) { object["\(path)_us"] = (us * 1000).rounded() / 1000 }
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    let cells = micros.map { String(format: "%-10.2f", $0) }.joined()
                    print((transA ? "Aᵀ" : "A ") + String(format: " %4d %4d %4d  ", m, n, k) + cells + best.description)
                }
            }
        }
    }
}
