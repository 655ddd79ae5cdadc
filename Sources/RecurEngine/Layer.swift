/// Activations passed between layers: time-major `[T, B, C]` when `isSequence`, else `[B, C]`.
struct Activations {
    var pointer: UnsafeMutablePointer<Float>
    var isSequence: Bool
    var channels: Int
}

/// A layer with an explicit forward pass and a backward pass that accumulates parameter
/// gradients and returns the gradient of its input (same layout as that input).
protocol Layer: AnyObject {
    func initialize(rng: inout SeededGenerator)
    func forward(_ x: Activations, steps: Int, batch: Int, training: Bool, rng: inout SeededGenerator) -> Activations
    func backward(_ dy: UnsafeMutablePointer<Float>, needInputGradient: Bool) -> UnsafeMutablePointer<Float>?
}

/// `y = x·K + b` on the last axis. `K` `[in, out]`, `b` `[out]`; `x` `[B, in]` or `[T, B, in]`.
final class DenseLayer: Layer {
    let inputSize: Int
    let units: Int
    let kernel, bias, dKernel, dBias: UnsafeMutablePointer<Float>
    private let output = FloatBuffer()
    private let inputGradient = FloatBuffer()
    private var input: UnsafePointer<Float>?
    private var rows = 0

    init(inputSize: Int, units: Int, parameters: ParameterSet, prefix: String) {
        self.inputSize = inputSize
        self.units = units
        let k = parameters.slot(named: prefix + "kernel")!.offset
        let b = parameters.slot(named: prefix + "bias")!.offset
        kernel = parameters.value(at: k)
        bias = parameters.value(at: b)
        dKernel = parameters.gradient(at: k)
        dBias = parameters.gradient(at: b)
    }

    static func declareParameters(inputSize: Int, units: Int, prefix: String, in parameters: ParameterSet) {
        _ = parameters.declare(prefix + "kernel", shape: [inputSize, units])
        _ = parameters.declare(prefix + "bias", shape: [units])
    }

    func initialize(rng: inout SeededGenerator) {
        Initializer.glorotUniform(kernel, fanIn: inputSize, fanOut: units, rng: &rng)
        bias.update(repeating: 0, count: units)
    }

    func forward(_ x: Activations, steps: Int, batch: Int, training: Bool, rng: inout SeededGenerator) -> Activations {
        rows = x.isSequence ? steps * batch : batch
        input = UnsafePointer(x.pointer)
        let y = output.reserve(rows * units)
        for r in 0..<rows { (y + r * units).update(from: bias, count: units) }
        gemm(m: rows, n: units, k: inputSize, a: x.pointer, lda: inputSize, b: kernel, ldb: units, beta: 1, c: y, ldc: units)
        return Activations(pointer: y, isSequence: x.isSequence, channels: units)
    }

    func backward(_ dy: UnsafeMutablePointer<Float>, needInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        gemm(transA: true, m: inputSize, n: units, k: rows, a: input!, lda: inputSize, b: dy, ldb: units, beta: 1, c: dKernel, ldc: units)
        addColumnSums(dy, rows: rows, columns: units, into: dBias)
        guard needInputGradient else { return nil }
        let dx = inputGradient.reserve(rows * inputSize)
        gemm(transB: true, m: rows, n: inputSize, k: units, a: dy, lda: units, b: kernel, ldb: units, beta: 0, c: dx, ldc: inputSize)
        return dx
    }
}

/// Inverted dropout: at training time each element is zeroed with probability `rate` and the
/// rest scaled by `1 / (1 − rate)`; the identity at inference.
final class DropoutLayer: Layer {
    let rate: Float
    private let mask = FloatBuffer()
    private let output = FloatBuffer()
    private let inputGradient = FloatBuffer()
    private var count = 0
    private var active = false

    init(rate: Double) { self.rate = Float(rate) }

    func initialize(rng: inout SeededGenerator) {}

    func forward(_ x: Activations, steps: Int, batch: Int, training: Bool, rng: inout SeededGenerator) -> Activations {
        active = training && rate > 0
        guard active else { return x }
        count = (x.isSequence ? steps * batch : batch) * x.channels
        let m = mask.reserve(count)
        fillDropoutMask(m, count: count, rate: rate, rng: &rng)
        let y = output.reserve(count)
        for i in 0..<count { y[i] = x.pointer[i] * m[i] }
        return Activations(pointer: y, isSequence: x.isSequence, channels: x.channels)
    }

    func backward(_ dy: UnsafeMutablePointer<Float>, needInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        guard needInputGradient else { return nil }
        guard active else { return dy }
        let dx = inputGradient.reserve(count)
        for i in 0..<count { dx[i] = dy[i] * mask.pointer[i] }
        return dx
    }
}
