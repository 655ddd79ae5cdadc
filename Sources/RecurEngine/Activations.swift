/// Vectorised float kernels for the gate nonlinearities.
///
/// `tanh` is the odd rational minimax approximation that Eigen (and so TensorFlow's CPU kernels)
/// use, clamped at ±7.905 where it reaches ±1 in float; its error is a few ulp. The logistic is
/// `σ(x) = ½ + ½·tanh(x/2)`, which never forms `exp(+large)`.
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

@inline(__always)
func vtanh(_ x: Vec) -> Vec {
    let clamp: Float = 7.90531110763549805
    let xc = x.clamped(lowerBound: Vec(repeating: -clamp), upperBound: Vec(repeating: clamp))
    let x2 = xc * xc
    var p = Vec(repeating: -2.76076847742355e-16)
    p = Vec(repeating: 2.00018790482477e-13).addingProduct(p, x2)
    p = Vec(repeating: -8.60467152213735e-11).addingProduct(p, x2)
    p = Vec(repeating: 5.12229709037114e-08).addingProduct(p, x2)
    p = Vec(repeating: 1.48572235717979e-05).addingProduct(p, x2)
    p = Vec(repeating: 6.37261928875436e-04).addingProduct(p, x2)
    p = Vec(repeating: 4.89352455891786e-03).addingProduct(p, x2)
    p = p * xc
    var q = Vec(repeating: 1.19825839466702e-06)
    q = Vec(repeating: 1.18534705686654e-04).addingProduct(q, x2)
    q = Vec(repeating: 2.26843463243900e-03).addingProduct(q, x2)
    q = Vec(repeating: 4.89352518554385e-03).addingProduct(q, x2)
    let tiny: Float = 0.0004
    return (p / q).replacing(with: x, where: (x .< tiny) .& (x .> -tiny))
}

@inline(__always)
func vsigmoid(_ x: Vec) -> Vec {
    let half = Vec(repeating: 0.5)
    return half.addingProduct(half, vtanh(x * half))
}

/// Scalar entry points, used by tests and by code off the hot path.
public enum Activation {
    /// Hyperbolic tangent, as computed by the engine's kernels.
    public static func tanh(_ x: Float) -> Float { vtanh(Vec(repeating: x))[0] }
    /// Logistic sigmoid, as computed by the engine's kernels.
    public static func sigmoid(_ x: Float) -> Float { vsigmoid(Vec(repeating: x))[0] }
}
