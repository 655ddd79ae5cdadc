import CRecurKernels

#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Matrix products for the engine: the small ones (the recurrent layers' per-step products) run
/// on Recur's own kernels for the CPU (`GemmPath`), the rest on the platform's CBLAS.
///
/// All matrices are row-major. `c[m, n] = alpha · op(a)[m, k] · op(b)[k, n] + beta · c`.
@inline(__always)
func gemm(
    transA: Bool = false,
    transB: Bool = false,
    m: Int,
    n: Int,
    k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>,
    lda: Int,
    b: UnsafePointer<Float>,
    ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>,
    ldc: Int
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta != 1 { scaleRows(c, rows: m, columns: n, stride: ldc, by: beta) }
        return
    }
    if !transB && alpha == 1 {
        switch kernelLevel(m: m, n: n, k: k) {
        case Int32(RECUR_KERNELS_AVX512):
            recur_sgemm_avx512(transA ? 1 : 0, Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        case Int32(RECUR_KERNELS_AVX2):
            recur_sgemm_avx2(transA ? 1 : 0, Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        default: break
        }
    }
    cblas_sgemm(
        CblasRowMajor,
        transA ? CblasTrans : CblasNoTrans,
        transB ? CblasTrans : CblasNoTrans,
        Int32(m),
        Int32(n),
        Int32(k),
        alpha,
        a,
        Int32(lda),
        b,
        Int32(ldb),
        beta,
        c,
        Int32(ldc)
    )
}

/// `c = a1·b1 + a2·b2`, row-major, no transposes: a recurrent step's `x_t·K + h_{t−1}·U`. On
/// Recur's kernels both terms are summed in the same registers and `c` is written once; on BLAS
/// (narrow or large products) it is two products, the second adding into `c`.
@inline(__always)
func gemmSum(
    m: Int,
    n: Int,
    k1: Int,
    a1: UnsafePointer<Float>,
    lda1: Int,
    b1: UnsafePointer<Float>,
    ldb1: Int,
    k2: Int,
    a2: UnsafePointer<Float>,
    lda2: Int,
    b2: UnsafePointer<Float>,
    ldb2: Int,
    c: UnsafeMutablePointer<Float>,
    ldc: Int
) {
    let level = kernelLevel(m: m, n: n, k: k1 + k2)
    if level != Int32(RECUR_KERNELS_NONE) {
        let (m, n, k1, lda1, ldb1, k2, lda2, ldb2, ldc) = (
            Int32(m), Int32(n), Int32(k1), Int32(lda1), Int32(ldb1), Int32(k2), Int32(lda2), Int32(ldb2), Int32(ldc)
        )
        switch level {
        case Int32(RECUR_KERNELS_AVX512):
            recur_sgemm2_avx512(m, n, k1, a1, lda1, b1, ldb1, k2, a2, lda2, b2, ldb2, 0, c, ldc)
            return
        case Int32(RECUR_KERNELS_AVX2):
            recur_sgemm2_avx2(m, n, k1, a1, lda1, b1, ldb1, k2, a2, lda2, b2, ldb2, 0, c, ldc)
            return
        default: break
        }
    }
    gemm(m: m, n: n, k: k1, a: a1, lda: lda1, b: b1, ldb: ldb1, beta: 0, c: c, ldc: ldc)
    gemm(m: m, n: n, k: k2, a: a2, lda: lda2, b: b2, ldb: ldb2, beta: 1, c: c, ldc: ldc)
}

/// The thread's kernel level for an `[m, k]·[k, n]` product inside the measured crossover
/// (`GemmPath`), else `RECUR_KERNELS_NONE` (BLAS): shared by `gemm` and `gemmSum`.
@inline(__always)
func kernelLevel(m: Int, n: Int, k: Int) -> Int32 {
    m > 0 && n >= GemmPath.narrowestColumns && m * n * k <= GemmPath.largestProduct ? recur_kernels_current() : Int32(RECUR_KERNELS_NONE)
}

private func scaleRows(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int, by beta: Float) {
    for r in 0..<rows {
        let row = c + r * stride
        for j in 0..<columns { row[j] = beta == 0 ? 0 : row[j] * beta }
    }
}

/// Which BLAS the engine runs on, and which kernel it picked for this CPU.
public struct BLASInfo: Sendable, Equatable {
    /// The library, e.g. `OpenBLAS` or `Accelerate`.
    public var library: String
    /// The library's build configuration string (OpenBLAS: version, options and core).
    public var configuration: String
    /// The kernel family in use, e.g. `SkylakeX`, `Haswell` or the generic `Prescott`.
    public var coreName: String

    /// The BLAS linked into this process.
    public static var current: BLASInfo {
        #if canImport(Accelerate)
        return BLASInfo(library: "Accelerate", configuration: "Accelerate", coreName: "Accelerate")
        #else
        let config = openblas_get_config().map { String(cString: $0) } ?? "unknown"
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        return BLASInfo(library: "OpenBLAS", configuration: config, coreName: core)
        #endif
    }

    /// Restricts the BLAS to the calling process's one thread (sweeps run one trial per core).
    public static func useSingleThread() {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }
}
