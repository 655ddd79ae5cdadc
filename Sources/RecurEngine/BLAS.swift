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
    if !transB && alpha == 1 && n >= GemmPath.narrowestColumns && m * n * k <= GemmPath.largestProduct {
        switch recur_kernels_current() {
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
