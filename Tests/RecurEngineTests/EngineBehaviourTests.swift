import Foundation
import Testing

@testable import RecurEngine

@Suite struct EngineBehaviourTests {
    @Test func tanhAndSigmoidAreAccurate() {
        var worstTanh: Double = 0
        var worstSigmoid: Double = 0
        var x: Float = -20
        while x <= 20 {
            worstTanh = max(worstTanh, abs(Double(Activation.tanh(x)) - Foundation.tanh(Double(x))))
            worstSigmoid = max(worstSigmoid, abs(Double(Activation.sigmoid(x)) - 1 / (1 + exp(-Double(x)))))
            x += 0.00731
        }
        #expect(worstTanh < 5e-7)
        #expect(worstSigmoid < 5e-7)
        #expect(abs(Activation.tanh(1e-6) - 1e-6) < 1e-12)
    }

    /// Same spec, seed and data → bit-identical losses; another seed differs.
    @Test func trainingIsDeterministic() throws {
        func run(seed: UInt64) throws -> [Double] {
            let spec = ModelSpec(
                inputFeatures: 3,
                layers: [
                    .recurrent(RecurrentSpec(cell: .gru, units: 8, returnSequences: true, recurrentDropout: 0.5)),
                    .recurrent(RecurrentSpec(cell: .lstm, units: 8, dropout: 0.2)), .dropout(rate: 0.5), .dense(units: 1),
                ]
            )
            let model = try SequentialModel(spec: spec, seed: seed)
            let optimizer = Optimizer(OptimizerConfig(kind: .rmsprop), parameterCount: model.parameters.count)
            var data = SeededGenerator(seed: 1)
            let x = standardNormal(32 * 10 * 3, rng: &data)
            let y = standardNormal(32, rng: &data)
            var rng = SeededGenerator(seed: seed)
            return (0..<5).map { _ in
                let l = x.withUnsafeBufferPointer { xs in
                    y.withUnsafeBufferPointer { ys in
                        model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: 32, steps: 10, loss: .meanSquaredError, rng: &rng).loss
                    }
                }
                optimizer.step(model.parameters)
                return l
            }
        }
        #expect(try run(seed: 5) == run(seed: 5))
        #expect(try run(seed: 5) != run(seed: 6))
    }

    /// Micro-batching changes only the rounding order, not the result.
    @Test func microBatchesGiveTheFullBatchGradient() throws {
        let spec = ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 6, bidirectional: true)), .dense(units: 1)])
        let model = try SequentialModel(spec: spec, seed: 1)
        var data = SeededGenerator(seed: 2)
        let x = standardNormal(20 * 7 * 2, rng: &data)
        let y = standardNormal(20, rng: &data)
        func gradients(micro: Int) -> [Float] {
            model.microBatchSize = micro
            var rng = SeededGenerator(seed: 0)
            _ = x.withUnsafeBufferPointer { xs in
                y.withUnsafeBufferPointer { ys in
                    model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: 20, steps: 7, loss: .meanSquaredError, rng: &rng)
                }
            }
            return model.parameters.flatGradients
        }
        let full = gradients(micro: 20)
        #expect(maxAbsDifference(full, gradients(micro: 3)).value < 1e-5)
    }

    /// Keras initializers: orthogonal recurrent kernels (U Uᵀ = I), LSTM forget bias 1, glorot range.
    @Test func initializersFollowKeras() throws {
        let spec = ModelSpec(inputFeatures: 5, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 8)), .dense(units: 1)])
        let model = try SequentialModel(spec: spec, seed: 11)
        let p = model.parameters
        let u = p.values(of: p.slot(named: "layers.0.recurrent_kernel")!)  // [8, 32]
        for i in 0..<8 {
            for j in 0..<8 {
                var dot: Float = 0
                for k in 0..<32 { dot += u[i * 32 + k] * u[j * 32 + k] }
                #expect(abs(dot - (i == j ? 1 : 0)) < 1e-5)
            }
        }
        let bias = p.values(of: p.slot(named: "layers.0.bias")!)
        #expect(Array(bias[8..<16]) == [Float](repeating: 1, count: 8))
        #expect(bias[0..<8].allSatisfy { $0 == 0 } && bias[16...].allSatisfy { $0 == 0 })
        let limit = Float((6.0 / Double(5 + 32)).squareRoot())
        #expect(p.values(of: p.slot(named: "layers.0.kernel")!).allSatisfy { abs($0) <= limit })
    }
}
