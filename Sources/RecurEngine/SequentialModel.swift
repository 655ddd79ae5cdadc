/// A sequential model built from a ``ModelSpec``: recurrent, dropout and dense layers in order.
///
/// Inputs are batch-major `[B, T, F]` float32; outputs `[B, out]` or `[B, T, out]`. A model is
/// not thread-safe: confine it to one task (one model per training thread).
public final class SequentialModel {
    public let spec: ModelSpec
    public let parameters: ParameterSet
    let layers: [Layer]
    private let inputBuffer = FloatBuffer()
    private let outputBuffer = FloatBuffer()
    private let lossGradient = FloatBuffer()

    /// Samples per forward/backward chunk inside a training batch; gradients are summed over
    /// chunks, so the result equals one full-batch pass up to rounding order. Keeps the tape in cache.
    public var microBatchSize: Int = 64

    /// Builds the model with Keras default initializers drawn from `seed`.
    public convenience init(spec: ModelSpec, seed: UInt64) throws {
        try self.init(spec: spec)
        var rng = SeededGenerator(seed: seed)
        for layer in layers { layer.initialize(rng: &rng) }
    }

    /// Builds the model with all parameters zero (to be loaded from a checkpoint).
    public init(spec: ModelSpec) throws {
        try spec.validate()
        self.spec = spec
        let parameters = ParameterSet()
        var channels = spec.inputFeatures
        for (i, layer) in spec.layers.enumerated() {
            let prefix = "layers.\(i)."
            switch layer {
            case .recurrent(let r):
                RecurrentLayer.declareParameters(spec: r, inputSize: channels, prefix: prefix, in: parameters)
                channels = r.outputChannels
            case .dense(let units):
                DenseLayer.declareParameters(inputSize: channels, units: units, prefix: prefix, in: parameters)
                channels = units
            case .dropout: break
            }
        }
        parameters.seal()
        self.parameters = parameters
        var built: [Layer] = []
        channels = spec.inputFeatures
        for (i, layer) in spec.layers.enumerated() {
            let prefix = "layers.\(i)."
            switch layer {
            case .recurrent(let r):
                built.append(RecurrentLayer(spec: r, inputSize: channels, parameters: parameters, prefix: prefix))
                channels = r.outputChannels
            case .dense(let units):
                built.append(DenseLayer(inputSize: channels, units: units, parameters: parameters, prefix: prefix))
                channels = units
            case .dropout(let rate):
                built.append(DropoutLayer(rate: rate))
            }
        }
        layers = built
    }

    /// Output values per sample: `out` or `T·out`.
    public func outputCount(steps: Int) -> Int {
        let o = spec.output
        return o.isSequence ? steps * o.channels : o.channels
    }

    /// Inference (dropout off) on `x` `[count, T, F]`, in batches of `batchSize`.
    public func predict(_ x: [Float], count: Int, steps: Int, batchSize: Int = 256) throws -> [Float] {
        let f = spec.inputFeatures
        guard count >= 0, steps > 0, x.count == count * steps * f else {
            throw EngineError.shapeMismatch("expected \(count)×\(steps)×\(f) = \(count * steps * f) input values, got \(x.count)")
        }
        let per = outputCount(steps: steps)
        var out = [Float](repeating: 0, count: count * per)
        var rng = SeededGenerator(seed: 0)
        x.withUnsafeBufferPointer { xs in
            out.withUnsafeMutableBufferPointer { ys in
                var start = 0
                while start < count {
                    let b = min(batchSize, count - start)
                    let y = forward(xs.baseAddress! + start * steps * f, batch: b, steps: steps, training: false, rng: &rng)
                    writeOutput(y, batch: b, steps: steps, into: ys.baseAddress! + start * per)
                    start += b
                }
            }
        }
        return out
    }

    /// Final states of recurrent layer `index` after the last `predict`, in Keras `return_state`
    /// order (`h`, and `c` for LSTM; forward direction first), each `[B, H]`.
    public func finalStates(ofLayer index: Int, batch: Int) -> [[Float]] {
        guard let layer = layers[index] as? RecurrentLayer else { return [] }
        return layer.finalStates().map { Array(UnsafeBufferPointer(start: $0, count: batch * layer.spec.units)) }
    }

    /// Whether the last forward pass ran any recurrent step fused with its gates (AVX-512; see
    /// `GemmPath.fusesSteps`): for `recur bench engine` to say what it measured.
    public var lastForwardFused: Bool {
        layers.contains { ($0 as? RecurrentLayer)?.directions.contains { $0.lastForwardFused } ?? false }
    }

    /// Forward through all layers; `x` is batch-major `[B, T, F]`.
    func forward(_ x: UnsafePointer<Float>, batch: Int, steps: Int, training: Bool, rng: inout SeededGenerator) -> Activations {
        let f = spec.inputFeatures
        let timeMajor = inputBuffer.reserve(steps * batch * f)
        for b in 0..<batch {
            for t in 0..<steps { (timeMajor + (t * batch + b) * f).update(from: x + (b * steps + t) * f, count: f) }
        }
        var a = Activations(pointer: timeMajor, isSequence: true, channels: f)
        for layer in layers { a = layer.forward(a, steps: steps, batch: batch, training: training, rng: &rng) }
        return a
    }

    private func writeOutput(_ y: Activations, batch: Int, steps: Int, into out: UnsafeMutablePointer<Float>) {
        let c = y.channels
        if !y.isSequence {
            out.update(from: y.pointer, count: batch * c)
            return
        }
        for b in 0..<batch {
            for t in 0..<steps { (out + (b * steps + t) * c).update(from: y.pointer + (t * batch + b) * c, count: c) }
        }
    }

    /// Forward and backward on one training batch: gradients are zeroed, then filled.
    ///
    /// - Parameters:
    ///   - x: `[B, T, F]` batch-major inputs.
    ///   - y: `[B, out]` targets (the model must end in a non-sequence output).
    /// - Returns: the mean loss and mean absolute error over the batch (dropout active).
    public func computeGradients(
        x: UnsafePointer<Float>,
        y: UnsafePointer<Float>,
        batch: Int,
        steps: Int,
        loss: Loss,
        rng: inout SeededGenerator
    ) -> (loss: Double, mae: Double) {
        let out = spec.output
        precondition(!out.isSequence, "training needs a model whose last layer returns one output per sample")
        parameters.zeroGradients()
        let c = out.channels
        let f = spec.inputFeatures
        let chunk = max(1, microBatchSize)
        var lossSum = 0.0
        var maeSum = 0.0
        var start = 0
        while start < batch {
            let b = min(chunk, batch - start)
            let prediction = forward(x + start * steps * f, batch: b, steps: steps, training: true, rng: &rng)
            let g = lossGradient.reserve(b * c)
            loss.accumulate(
                predictions: prediction.pointer,
                targets: y + start * c,
                count: b * c,
                normalizer: batch * c,
                gradient: g,
                lossSum: &lossSum,
                absoluteErrorSum: &maeSum
            )
            var grad: UnsafeMutablePointer<Float>? = g
            for (i, layer) in layers.enumerated().reversed() {
                guard let gi = grad else { break }
                grad = layer.backward(gi, needInputGradient: i > 0)
            }
            start += b
        }
        let n = Double(batch * c)
        return (lossSum / n, maeSum / n)
    }

    /// Mean loss and MAE of the model on `[B, T, F]` / `[B, out]` without dropout (no gradients).
    public func evaluate(
        x: UnsafePointer<Float>,
        y: UnsafePointer<Float>,
        batch: Int,
        steps: Int,
        loss: Loss
    ) -> (loss: Double, mae: Double) {
        let c = spec.output.channels
        var rng = SeededGenerator(seed: 0)
        let prediction = forward(x, batch: batch, steps: steps, training: false, rng: &rng)
        var lossSum = 0.0
        var maeSum = 0.0
        let g = lossGradient.reserve(batch * c)
        loss.accumulate(
            predictions: prediction.pointer,
            targets: y,
            count: batch * c,
            normalizer: batch * c,
            gradient: g,
            lossSum: &lossSum,
            absoluteErrorSum: &maeSum
        )
        return (lossSum / Double(batch * c), maeSum / Double(batch * c))
    }
}
