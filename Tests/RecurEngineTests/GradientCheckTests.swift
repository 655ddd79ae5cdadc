import Foundation
import Testing

@testable import RecurEngine

/// Analytic gradients (BPTT) against central finite differences of the same float32 model.
///
/// Dropout masks come from the generator passed in, so re-running with a copy of it replays the
/// same masks: dropout and recurrent-dropout paths are checked too. Every parameter is checked;
/// a single wrong term in any backward formula moves some entries far outside the tolerance.
@Suite struct GradientCheckTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var layers: [LayerSpec]
        var loss: Loss = .meanSquaredError
        var description: String { name }
    }

    static func rnn(
        _ cell: CellKind,
        _ units: Int,
        seq: Bool = false,
        back: Bool = false,
        bi: Bool = false,
        merge: MergeMode = .concat,
        dropout: Double = 0,
        rd: Double = 0,
        resetAfter: Bool = true
    ) -> LayerSpec {
        .recurrent(
            RecurrentSpec(
                cell: cell,
                units: units,
                returnSequences: seq,
                goBackwards: back,
                dropout: dropout,
                recurrentDropout: rd,
                bidirectional: bi,
                mergeMode: merge,
                resetAfter: resetAfter
            )
        )
    }

    static let cases: [Case] = [
        Case(name: "simple_rnn", layers: [rnn(.simpleRNN, 4), .dense(units: 1)]),
        Case(name: "lstm", layers: [rnn(.lstm, 4), .dense(units: 1)]),
        Case(name: "gru", layers: [rnn(.gru, 4), .dense(units: 1)]),
        Case(name: "gru_reset_before", layers: [rnn(.gru, 4, resetAfter: false), .dense(units: 1)]),
        Case(name: "go_backwards_seq", layers: [rnn(.lstm, 3, seq: true, back: true), rnn(.simpleRNN, 3, back: true), .dense(units: 1)]),
        Case(name: "stacked_lstm_gru_mae", layers: [rnn(.lstm, 3, seq: true), rnn(.gru, 3), .dense(units: 2)], loss: .meanAbsoluteError),
        Case(
            name: "stacked_gru_huber",
            layers: [rnn(.gru, 3, seq: true, resetAfter: false), rnn(.simpleRNN, 3), .dense(units: 1)],
            loss: .huber(delta: 0.5)
        ),
        Case(name: "bi_concat_seq", layers: [rnn(.gru, 3, seq: true, bi: true), rnn(.lstm, 2, bi: true), .dense(units: 1)]),
        Case(name: "bi_sum", layers: [rnn(.lstm, 3, bi: true, merge: .sum), .dense(units: 1)]),
        Case(name: "bi_mul_seq", layers: [rnn(.simpleRNN, 3, seq: true, bi: true, merge: .mul), rnn(.gru, 2), .dense(units: 1)]),
        Case(name: "bi_ave", layers: [rnn(.gru, 3, bi: true, merge: .ave, resetAfter: false), .dense(units: 1)]),
        Case(
            name: "lstm_dropouts",
            layers: [rnn(.lstm, 4, seq: true, dropout: 0.3, rd: 0.3), .dropout(rate: 0.4), rnn(.lstm, 3, dropout: 0.2), .dense(units: 1)]
        ),
        Case(
            name: "gru_dropouts",
            layers: [rnn(.gru, 4, seq: true, dropout: 0.3, rd: 0.4), rnn(.gru, 3, dropout: 0.3, rd: 0.3, resetAfter: false), .dense(units: 1)]
        ),
        Case(name: "simple_rnn_dropouts_bi", layers: [rnn(.simpleRNN, 3, bi: true, dropout: 0.3, rd: 0.3), .dropout(rate: 0.3), .dense(units: 1)]),
        // 17 units: one full 16-lane vector and a 1-lane tail, so both code paths of the gate kernels run.
        Case(name: "lstm_17", layers: [rnn(.lstm, 17), .dense(units: 1)]),
        Case(name: "gru_17", layers: [rnn(.gru, 17), .dense(units: 1)]),
        Case(name: "gru_reset_before_17", layers: [rnn(.gru, 17, resetAfter: false), .dense(units: 1)]),
        Case(name: "simple_rnn_17_bi_seq", layers: [rnn(.simpleRNN, 17, seq: true, bi: true), rnn(.lstm, 2), .dense(units: 1)]),
    ]

    @Test(arguments: cases, GemmPath.available)
    func analyticGradientsMatchFiniteDifferences(_ c: Case, path: GemmPath) throws {
        try GemmPath.with(path) { try analyticGradientsMatchFiniteDifferences(c) }
    }

    func analyticGradientsMatchFiniteDifferences(_ c: Case) throws {
        let (batch, steps, features) = (3, 5, 2)
        let spec = ModelSpec(inputFeatures: features, layers: c.layers)
        let model = try SequentialModel(spec: spec, seed: 42)
        var rng = SeededGenerator(seed: 9)
        // Non-zero biases so every bias path matters.
        for slot in model.parameters.slots where slot.name.hasSuffix("bias") {
            model.parameters.setValues(standardNormal(slot.count, rng: &rng, scale: 0.3), of: slot)
        }
        let x = standardNormal(batch * steps * features, rng: &rng)
        let y = standardNormal(batch * spec.output.channels, rng: &rng)
        let maskSeed = SeededGenerator(seed: 123)
        func loss() -> Double {
            var r = maskSeed
            return x.withUnsafeBufferPointer { xs in
                y.withUnsafeBufferPointer { ys in
                    model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: batch, steps: steps, loss: c.loss, rng: &r).loss
                }
            }
        }
        _ = loss()
        let analytic = model.parameters.flatGradients
        var values = model.parameters.flatValues
        var failures: [String] = []
        for slot in model.parameters.slots {
            for i in slot.offset..<(slot.offset + slot.count) {
                let numeric = Self.richardson { h in
                    let saved = values[i]
                    values[i] = saved + h
                    model.parameters.flatValues = values
                    let plus = loss()
                    values[i] = saved - h
                    model.parameters.flatValues = values
                    let minus = loss()
                    values[i] = saved
                    model.parameters.flatValues = values
                    return (plus - minus) / Double(2 * h)
                }
                let a = Double(analytic[i])
                if !Self.agrees(a, numeric) {
                    failures.append("\(slot.name)[\(i - slot.offset)]: analytic \(a), numeric \(numeric)")
                }
            }
        }
        #expect(failures.isEmpty, "\(c.name): \(failures.count) mismatches, first: \(failures.prefix(3))")
    }

    /// The derivative from central differences at steps h = 1e-2 and h/2 combined by Richardson
    /// extrapolation, `(4·D(h/2) − D(h)) / 3`, which cancels the h² error: plain central
    /// differences at 1e-2 were 11 % off on a curved SimpleRNN bias, and smaller steps drown in
    /// float32 rounding.
    static func richardson(_ centralDifference: (Float) -> Double) -> Double {
        let h: Float = 1e-2
        return (4 * centralDifference(h / 2) - centralDifference(h)) / 3
    }

    /// The tolerance leaves a margin of a few times the largest error of a correct gradient and no
    /// more, so a gradient 5 % wrong, or missing one term, is caught.
    static func agrees(_ analytic: Double, _ numeric: Double) -> Bool {
        abs(analytic - numeric) <= 2e-4 + 5e-3 * abs(numeric)
    }

    /// The check is sharp: a gradient with one term dropped (here the forget-gate term of one
    /// entry) is caught.
    @Test func checkDetectsASingleWrongTerm() throws {
        let spec = ModelSpec(inputFeatures: 2, layers: [Self.rnn(.lstm, 3), .dense(units: 1)])
        let model = try SequentialModel(spec: spec, seed: 3)
        var rng = SeededGenerator(seed: 4)
        let x = standardNormal(3 * 4 * 2, rng: &rng)
        let y = standardNormal(3, rng: &rng)
        func run() -> Double {
            var r = SeededGenerator(seed: 0)
            return x.withUnsafeBufferPointer { xs in
                y.withUnsafeBufferPointer { ys in
                    model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: 3, steps: 4, loss: .meanSquaredError, rng: &r).loss
                }
            }
        }
        _ = run()
        let slot = model.parameters.slot(named: "layers.0.bias")!
        let analytic = model.parameters.gradients(of: slot)
        var values = model.parameters.values(of: slot)
        let j = 3 + 1  // forget gate, unit 1
        let numeric = Self.richardson { h in
            let saved = values[j]
            values[j] = saved + h
            model.parameters.setValues(values, of: slot)
            let plus = run()
            values[j] = saved - h
            model.parameters.setValues(values, of: slot)
            let minus = run()
            values[j] = saved
            model.parameters.setValues(values, of: slot)
            return (plus - minus) / Double(2 * h)
        }
        #expect(Self.agrees(Double(analytic[j]), numeric))
        #expect(abs(numeric) > 1e-3, "the forget bias must matter for the check to be meaningful")
        // Dropping the term (gradient 0), or getting it 5 % wrong, is outside the tolerance.
        #expect(!Self.agrees(0, numeric) && !Self.agrees(1.05 * numeric, numeric))
    }
}
