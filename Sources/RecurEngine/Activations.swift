/// Vectorised float kernels: the gate nonlinearities and the column sums of bias gradients.
///
/// `tanh` is the odd rational minimax approximation that Eigen (and so TensorFlow's CPU kernels)
/// use, clamped at ±7.905 where it reaches ±1 in float; its error is a few ulp. The logistic is
/// `σ(x) = ½ + ½·tanh(x/2)`, which never forms `exp(+large)`.
import CRecurSupport

typealias Vec = SIMD16<Float>

/// Lanes per vector in the pointwise kernels.
let vectorWidth = 16

@inline(__always)
func vload(_ p: UnsafePointer<Float>, _ n: Int) -> Vec {
    if n == vectorWidth { return UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
    var v = Vec()
    for i in 0..<n { v[i] = p[i] }
    return v
}

@inline(__always)
func vstore(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
    if n == vectorWidth {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
        return
    }
    for i in 0..<n { p[i] = v[i] }
}

/// `tanh(x) = p / q`: Eigen's rational minimax form on `x` clamped to ±7.905.
@inline(__always)
func vtanhFraction(_ x: Vec) -> (p: Vec, q: Vec) {
    let clamp: Float = 7.90531110763549805
    let xc = pointwiseMin(pointwiseMax(x, Vec(repeating: -clamp)), Vec(repeating: clamp))
    let x2 = xc * xc
    var p = Vec(repeating: -2.76076847742355e-16)
    p = Vec(repeating: 2.00018790482477e-13).addingProduct(p, x2)
    p = Vec(repeating: -8.60467152213735e-11).addingProduct(p, x2)
    p = Vec(repeating: 5.12229709037114e-08).addingProduct(p, x2)
    p = Vec(repeating: 1.48572235717979e-05).addingProduct(p, x2)
    p = Vec(repeating: 6.37261928875436e-04).addingProduct(p, x2)
    p = Vec(repeating: 4.89352455891786e-03).addingProduct(p, x2)
    var q = Vec(repeating: 1.19825839466702e-06)
    q = Vec(repeating: 1.18534705686654e-04).addingProduct(q, x2)
    q = Vec(repeating: 2.26843463243900e-03).addingProduct(q, x2)
    q = Vec(repeating: 4.89352518554385e-03).addingProduct(q, x2)
    return (p * xc, q)
}

@inline(__always)
func vtanh(_ x: Vec) -> Vec {
    let (p, q) = vtanhFraction(x)
    return p * recur_reciprocal16(q)
}

/// `σ(x) = ½ + ½·p/q` with `p/q = tanh(x/2)`.
@inline(__always)
func vsigmoidFraction(_ x: Vec) -> (p: Vec, q: Vec) {
    vtanhFraction(x * 0.5)
}

@inline(__always)
func sigmoid(fromTanhFraction p: Vec, reciprocal: Vec) -> Vec {
    let half = Vec(repeating: 0.5)
    return half.addingProduct(half * p, reciprocal)
}

/// `(1/a, 1/b, 1/c, 1/d)` with one division (batched inversion). The denominators of the tanh
/// fraction lie in [4.9e-3, 1], so the product cannot under- or overflow.
@inline(__always)
func reciprocals(_ a: Vec, _ b: Vec, _ c: Vec, _ d: Vec) -> (Vec, Vec, Vec, Vec) {
    let ab = a * b
    let cd = c * d
    let inverse = recur_reciprocal16(ab * cd)
    let invAB = inverse * cd
    let invCD = inverse * ab
    return (invAB * b, invAB * a, invCD * d, invCD * c)
}

/// `(1/a, 1/b)` with one division.
@inline(__always)
func reciprocals(_ a: Vec, _ b: Vec) -> (Vec, Vec) {
    let inverse = recur_reciprocal16(a * b)
    return (inverse * b, inverse * a)
}

@inline(__always)
func vsigmoid(_ x: Vec) -> Vec {
    let half = Vec(repeating: 0.5)
    return half.addingProduct(half, vtanh(x * half))
}

/// `y[n] += Σ_r a[r, n]` for a row-major `[rows, columns]` matrix (bias gradients). Four rows at a
/// time go to four accumulators, so the sums do not wait on one add chain.
func addColumnSums(_ a: UnsafePointer<Float>, rows: Int, columns: Int, into y: UnsafeMutablePointer<Float>) {
    @inline(__always) func lanes(_ j: Int, _ w: Int) {
        var s0 = Vec()
        var s1 = Vec()
        var s2 = Vec()
        var s3 = Vec()
        var r = 0
        while r + 4 <= rows {
            let p = a + r * columns + j
            s0 += vload(p, w)
            s1 += vload(p + columns, w)
            s2 += vload(p + 2 * columns, w)
            s3 += vload(p + 3 * columns, w)
            r += 4
        }
        while r < rows {
            s0 += vload(a + r * columns + j, w)
            r += 1
        }
        vstore(vload(y + j, w) + ((s0 + s1) + (s2 + s3)), y + j, w)
    }
    var j = 0
    while j + vectorWidth <= columns {
        lanes(j, vectorWidth)
        j += vectorWidth
    }
    if j < columns { lanes(j, columns - j) }
}

/// Scalar entry points, used by tests and by code off the hot path.
public enum Activation {
    /// Hyperbolic tangent, as computed by the engine's kernels.
    public static func tanh(_ x: Float) -> Float { vtanh(Vec(repeating: x))[0] }
    /// Logistic sigmoid, as computed by the engine's kernels.
    public static func sigmoid(_ x: Float) -> Float { vsigmoid(Vec(repeating: x))[0] }
}
