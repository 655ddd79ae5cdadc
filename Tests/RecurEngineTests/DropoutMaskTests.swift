import Foundation
import Testing

@testable import RecurEngine

/// Training-mode dropout inside recurrent layers, as Keras ≥ 3.8 does it: one inverted-dropout
/// mask per sample, drawn once per sequence (fixed across timesteps), and with recurrent dropout
/// one mask per gate for the input and for the state. Checked against a scalar reference that
/// applies the engine's own masks, so a mask redrawn per step, shared across gates where it
/// should not be, or applied to the wrong operand fails.
@Suite struct DropoutMaskTests {
    /// Runs one direction in training mode on random time-major `[T, B, F]` input. The model is
    /// returned too: the direction's weight pointers live in its parameter storage.
    static func run(_ spec: RecurrentSpec, features f: Int, batch b: Int, steps t: Int) throws -> (RecurrentDirection, [Float], SequentialModel) {
        let model = try SequentialModel(spec: ModelSpec(inputFeatures: f, layers: [.recurrent(spec)]), seed: 5)
        let direction = try #require(model.layers[0] as? RecurrentLayer).directions[0]
        var data = SeededGenerator(seed: 8)
        let x = standardNormal(t * b * f, rng: &data)
        var rng = SeededGenerator(seed: 9)
        x.withUnsafeBufferPointer { direction.forward($0.baseAddress!, steps: t, batch: b, training: true, rng: &rng) }
        return (direction, x, model)
    }

    static func array(_ p: UnsafePointer<Float>, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n)) }

    @Test func masksAreInvertedDropoutWithTheRightCountAndRate() throws {
        let (lstm, _, _) = try Self.run(
            RecurrentSpec(cell: .lstm, units: 3, dropout: 0.25, recurrentDropout: 0.5),
            features: 2,
            batch: 2000,
            steps: 2
        )
        #expect(lstm.inputMaskCount == 4 && lstm.recurrentMaskCount == 4)
        let input = Self.array(lstm.inputMasks.pointer, 4 * 2000 * 2)
        let recurrent = Self.array(lstm.recurrentMasks.pointer, 4 * 2000 * 3)
        #expect(input.allSatisfy { $0 == 0 || $0 == Float(1 / 0.75) } && recurrent.allSatisfy { $0 == 0 || $0 == 2 })
        let inputKept = Double(input.filter { $0 != 0 }.count) / Double(input.count)
        let recurrentKept = Double(recurrent.filter { $0 != 0 }.count) / Double(recurrent.count)
        #expect(abs(inputKept - 0.75) < 0.02 && abs(recurrentKept - 0.5) < 0.02, "kept \(inputKept), \(recurrentKept)")
        // Input dropout alone: one mask shared by the gates; SimpleRNN: one of each kind.
        let (inputOnly, _, _) = try Self.run(RecurrentSpec(cell: .gru, units: 3, dropout: 0.25), features: 2, batch: 4, steps: 2)
        #expect(inputOnly.inputMaskCount == 1 && inputOnly.recurrentMaskCount == 0)
        let (simple, _, _) = try Self.run(
            RecurrentSpec(cell: .simpleRNN, units: 3, dropout: 0.25, recurrentDropout: 0.5),
            features: 2,
            batch: 4,
            steps: 2
        )
        #expect(simple.inputMaskCount == 1 && simple.recurrentMaskCount == 1)
    }

    /// LSTM: gate k sees `(x_t ⊙ d_k)·K_k + (h_{t−1} ⊙ m_k)·U_k + b_k`, the same masks at every step.
    @Test func lstmAppliesPerGateMasksFixedOverTime() throws {
        let (f, h, b, t) = (2, 3, 4, 5)
        let (d, x, model) = try Self.run(
            RecurrentSpec(cell: .lstm, units: h, returnSequences: true, dropout: 0.3, recurrentDropout: 0.4),
            features: f,
            batch: b,
            steps: t
        )
        let kernel = Self.array(d.kernel, f * 4 * h)
        let recurrent = Self.array(d.recurrentKernel, h * 4 * h)
        let bias = Self.array(d.bias, 4 * h)
        let inputMasks = Self.array(d.inputMasks.pointer, 4 * b * f)
        let stateMasks = Self.array(d.recurrentMasks.pointer, 4 * b * h)
        let out = Self.array(d.outputSequence, t * b * h)
        func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        var worst = 0.0
        for r in 0..<b {
            var hPrev = [Double](repeating: 0, count: h)
            var c = [Double](repeating: 0, count: h)
            for step in 0..<t {
                var z = [Double](repeating: 0, count: 4 * h)
                for k in 0..<4 {
                    for j in 0..<h {
                        var v = Double(bias[k * h + j])
                        for i in 0..<f { v += Double(x[(step * b + r) * f + i] * inputMasks[(k * b + r) * f + i] * kernel[i * 4 * h + k * h + j]) }
                        for i in 0..<h { v += hPrev[i] * Double(stateMasks[(k * b + r) * h + i] * recurrent[i * 4 * h + k * h + j]) }
                        z[k * h + j] = v
                    }
                }
                for j in 0..<h {
                    c[j] = sigmoid(z[h + j]) * c[j] + sigmoid(z[j]) * tanh(z[2 * h + j])
                    hPrev[j] = sigmoid(z[3 * h + j]) * tanh(c[j])
                    worst = max(worst, abs(hPrev[j] - Double(out[(step * b + r) * h + j])))
                }
            }
        }
        withExtendedLifetime(model) {}
        #expect(worst < 1e-5, "max |Δ| \(worst)")
    }

    /// GRU (reset_after): the z, r and candidate gates each see their own state mask, and the
    /// blend `z ⊙ h_{t−1} + (1 − z) ⊙ ĥ` uses the unmasked state.
    @Test func gruMasksEachGateButBlendsTheUnmaskedState() throws {
        let (f, h, b, t) = (2, 3, 4, 5)
        let (d, x, model) = try Self.run(
            RecurrentSpec(cell: .gru, units: h, returnSequences: true, dropout: 0.3, recurrentDropout: 0.4),
            features: f,
            batch: b,
            steps: t
        )
        let kernel = Self.array(d.kernel, f * 3 * h)
        let recurrent = Self.array(d.recurrentKernel, h * 3 * h)
        let bias = Self.array(d.bias, 2 * 3 * h)
        let inputMasks = Self.array(d.inputMasks.pointer, 3 * b * f)
        let stateMasks = Self.array(d.recurrentMasks.pointer, 3 * b * h)
        let out = Self.array(d.outputSequence, t * b * h)
        func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
        var worst = 0.0
        for r in 0..<b {
            var hPrev = [Double](repeating: 0, count: h)
            for step in 0..<t {
                var xs = [Double](repeating: 0, count: 3 * h)
                var hs = [Double](repeating: 0, count: 3 * h)
                for k in 0..<3 {
                    for j in 0..<h {
                        var vx = Double(bias[k * h + j])
                        var vh = Double(bias[3 * h + k * h + j])
                        for i in 0..<f { vx += Double(x[(step * b + r) * f + i] * inputMasks[(k * b + r) * f + i] * kernel[i * 3 * h + k * h + j]) }
                        for i in 0..<h { vh += hPrev[i] * Double(stateMasks[(k * b + r) * h + i] * recurrent[i * 3 * h + k * h + j]) }
                        xs[k * h + j] = vx
                        hs[k * h + j] = vh
                    }
                }
                var next = hPrev
                for j in 0..<h {
                    let zg = sigmoid(xs[j] + hs[j])
                    let rg = sigmoid(xs[h + j] + hs[h + j])
                    let candidate = tanh(xs[2 * h + j] + rg * hs[2 * h + j])
                    next[j] = zg * hPrev[j] + (1 - zg) * candidate
                    worst = max(worst, abs(next[j] - Double(out[(step * b + r) * h + j])))
                }
                hPrev = next
            }
        }
        withExtendedLifetime(model) {}
        #expect(worst < 1e-5, "max |Δ| \(worst)")
    }
}
