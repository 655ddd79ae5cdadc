import Foundation
import Testing

@testable import RecurEngine

/// Recur's own GEMM kernels against a double-precision reference, on every path this CPU runs, at
/// shapes that cover each register block's row tails (1…7 rows past a full block), partial and
/// full column panels, both `op(A)`, and `beta` 0 and 1.
@Suite struct GemmKernelTests {
    struct Shape: Sendable, CustomStringConvertible {
        var transA: Bool
        var m: Int
        var n: Int
        var k: Int
        var description: String { "\(transA ? "Aᵀ" : "A") m=\(m) n=\(n) k=\(k)" }
    }

    static let shapes: [Shape] = {
        var all: [Shape] = []
        for transA in [false, true] {
            for m in [1, 2, 3, 5, 6, 7, 8, 9, 13, 17, 64] {
                for n in [16, 17, 24, 31, 32, 33, 48, 64, 100, 128] {
                    for k in [1, 3, 14, 32] { all.append(Shape(transA: transA, m: m, n: n, k: k)) }
                }
            }
        }
        return all
    }()

    @Test(arguments: GemmPath.available)
    func kernelsMatchAReference(_ path: GemmPath) {
        var rng = SeededGenerator(seed: 7)
        var worst: (error: Double, shape: String) = (0, "")
        for shape in Self.shapes {
            for beta: Float in [0, 1] {
                // Leading dimensions wider than the matrices, so strides are honoured.
                let (m, n, k) = (shape.m, shape.n, shape.k)
                let lda = (shape.transA ? m : k) + 3
                let a = (0..<((shape.transA ? k : m) * lda)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<(k * (n + 5))).map { _ in Float.random(in: -1...1, using: &rng) }
                let ldc = n + 2
                let c0 = (0..<(m * ldc)).map { _ in Float.random(in: -1...1, using: &rng) }
                var c = c0
                GemmPath.with(path) {
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                gemm(
                                    transA: shape.transA,
                                    m: m,
                                    n: n,
                                    k: k,
                                    a: ap.baseAddress!,
                                    lda: lda,
                                    b: bp.baseAddress!,
                                    ldb: n + 5,
                                    beta: beta,
                                    c: cp.baseAddress!,
                                    ldc: ldc
                                )
                            }
                        }
                    }
                }
                for i in 0..<m {
                    for j in 0..<ldc {
                        guard j < n else {
                            // Padding past column n is never written.
                            if c[i * ldc + j] != c0[i * ldc + j] { worst = (.infinity, "\(shape) wrote column \(j)") }
                            continue
                        }
                        var sum = Double(beta) * Double(c0[i * ldc + j])
                        for p in 0..<k {
                            let aip = shape.transA ? a[p * lda + i] : a[i * lda + p]
                            sum += Double(aip) * Double(b[p * (n + 5) + j])
                        }
                        let error = abs(sum - Double(c[i * ldc + j]))
                        if error > worst.error { worst = (error, "\(shape) beta=\(beta) at [\(i), \(j)]") }
                    }
                }
            }
        }
        #expect(worst.error <= 2e-5, "\(path): max |Δ| \(worst.error) (\(worst.shape))")
    }

    /// `x_t·K + h·U` in one pass (`gemmSum`) against a double reference: every row tail, partial
    /// panels, an empty first term, and products past the kernels' size limit (BLAS twice).
    @Test(arguments: GemmPath.available)
    func twoTermProductsMatchAReference(_ path: GemmPath) {
        var rng = SeededGenerator(seed: 11)
        var worst: (error: Double, shape: String) = (0, "")
        for m in [1, 5, 7, 13, 64, 300] {
            for n in [16, 17, 32, 33, 128] {
                for (k1, k2) in [(0, 32), (1, 32), (14, 32), (14, 16), (3, 1), (40, 300)] {
                    let (lda1, lda2, ldb1, ldb2, ldc) = (k1 + 2, k2 + 1, n + 3, n + 4, n + 2)
                    let random = { (count: Int) in (0..<count).map { _ in Float.random(in: -1...1, using: &rng) } }
                    let (a1, a2, b1, b2) = (random(m * lda1), random(m * lda2), random(max(1, k1) * ldb1), random(k2 * ldb2))
                    let c0 = random(m * ldc)
                    var c = c0
                    GemmPath.with(path) {
                        c.withUnsafeMutableBufferPointer { cp in
                            gemmSum(
                                m: m,
                                n: n,
                                k1: k1,
                                a1: a1,
                                lda1: lda1,
                                b1: b1,
                                ldb1: ldb1,
                                k2: k2,
                                a2: a2,
                                lda2: lda2,
                                b2: b2,
                                ldb2: ldb2,
                                c: cp.baseAddress!,
                                ldc: ldc
                            )
                        }
                    }
                    let shape = "m=\(m) n=\(n) k1=\(k1) k2=\(k2)"
                    for i in 0..<m {
                        for j in 0..<ldc {
                            guard j < n else {
                                if c[i * ldc + j] != c0[i * ldc + j] { worst = (.infinity, "\(shape) wrote column \(j)") }
                                continue
                            }
                            var sum = 0.0
                            for p in 0..<k1 { sum += Double(a1[i * lda1 + p]) * Double(b1[p * ldb1 + j]) }
                            for p in 0..<k2 { sum += Double(a2[i * lda2 + p]) * Double(b2[p * ldb2 + j]) }
                            let error = abs(sum - Double(c[i * ldc + j])) / max(1, abs(sum))
                            if error > worst.error { worst = (error, "\(shape) at [\(i), \(j)]") }
                        }
                    }
                }
            }
        }
        #expect(worst.error <= 2e-5, "\(path): max relative |Δ| \(worst.error) (\(worst.shape))")
    }

    /// An AVX2 worker and an AVX-512 worker of one sweep compute the same bits: each kernel, wide
    /// or narrow block, sums every output in the same order. Needs a CPU with both.
    @Test(.enabled(if: GemmPath.available.contains(.avx512), "needs an AVX-512 CPU"))
    func avx2AndAVX512GiveTheSameBits() {
        var rng = SeededGenerator(seed: 13)
        var differing: [String] = []
        for transA in [false, true] {
            for (m, n, k) in [(64, 16, 64), (17, 16, 32), (13, 9, 14), (64, 128, 32), (64, 33, 96), (7, 48, 1)] {
                let lda = (transA ? m : k) + 1
                let a = (0..<((transA ? k : m) * lda)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
                let c0 = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &rng) }
                let products = [GemmPath.avx2, .avx512].map { path in
                    var c = c0
                    GemmPath.with(path) {
                        gemm(transA: transA, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: n, beta: 1, c: &c, ldc: n)
                    }
                    return c
                }
                if products[0] != products[1] { differing.append("\(transA ? "Aᵀ" : "A") m=\(m) n=\(n) k=\(k)") }
            }
        }
        #expect(differing.isEmpty, "AVX2 and AVX-512 products differ at \(differing)")
    }

    /// Run-time dispatch agrees with the kernel's view of the CPU (Linux: /proc/cpuinfo's flags).
    @Test func dispatchFollowsTheCPUsFlags() throws {
        #if os(Linux) && arch(x86_64)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        var expected: [GemmPath] = [.blas]
        if flags.isSuperset(of: ["avx2", "fma"]) { expected.append(.avx2) }
        if flags.isSuperset(of: ["avx2", "fma", "avx512f", "avx512vl", "avx512dq"]) { expected.append(.avx512) }
        #expect(GemmPath.available == expected)
        if ProcessInfo.processInfo.environment["RECUR_KERNELS"] == nil { #expect(GemmPath.detected == expected.last) }
        #endif
    }
}
