import Foundation
import Testing

@testable import RecurEngine

/// Forward outputs for Keras' own weights match Keras 3.15.1 (TF-CPU) within 1e-5, on every
/// product path this CPU runs (BLAS, and Recur's AVX2 or AVX-512 kernels).
@Suite struct KerasParityTests {
    static let forwardCases = [
        "simple_rnn", "simple_rnn_backwards_seq", "simple_rnn_backwards", "lstm", "lstm_stacked", "gru",
        "gru_reset_before", "gru_stacked_seq", "bi_lstm_concat", "bi_gru_sum_seq_bi_rnn_ave", "bi_lstm_mul_seq",
        "bi_gru_reset_before_concat_seq", "dropouts_ignored", "gru_lecture_size", "lstm_dense_on_sequence",
        "lstm_state", "gru_state", "simple_rnn_state", "lstm_backwards_seq", "gru_reset_before_backwards",
        "lstm_lecture_size", "simple_rnn_lecture_size", "bilstm_lecture_size",
    ]

    @Test(arguments: forwardCases, GemmPath.available)
    func forwardMatchesKeras(_ name: String, path: GemmPath) throws {
        try GemmPath.with(path) { try forwardMatchesKeras(name) }
    }

    func forwardMatchesKeras(_ name: String) throws {
        let (model, metadata) = try Fixtures.checkpoint("\(name).safetensors")
        #expect(metadata["fixture"] == "forward")
        let x = try Fixtures.array("\(name).input.npy")
        let expected = try Fixtures.array("\(name).output.npy")
        let (b, t) = (x.shape[0], x.shape[1])
        let y = try model.predict(x.values, count: b, steps: t)
        let output = model.spec.output
        #expect(expected.shape == (output.isSequence ? [b, t, output.channels] : [b, output.channels]), "\(name): Keras shape \(expected.shape)")
        try #require(y.count == expected.values.count, "\(name): \(y.count) values against Keras' \(expected.shape)")
        let diff = maxAbsDifference(y, expected.values)
        #expect(diff.value <= 1e-5, "\(name): max |Δ| \(diff.value) at \(diff.index)")
    }

    @Test func lstmReturnStateMatchesKeras() throws {
        let (model, _) = try Fixtures.checkpoint("lstm_state.safetensors")
        let x = try Fixtures.array("lstm_state.input.npy")
        _ = try model.predict(x.values, count: x.shape[0], steps: x.shape[1])
        let states = model.finalStates(ofLayer: 0, batch: x.shape[0])
        #expect(states.count == 2)
        #expect(maxAbsDifference(states[0], try Fixtures.array("lstm_state.state_h.npy").values).value <= 1e-5)
        #expect(maxAbsDifference(states[1], try Fixtures.array("lstm_state.state_c.npy").values).value <= 1e-5)
    }

    /// GRU and SimpleRNN (both run backwards) return one state, h.
    @Test(arguments: ["gru_state", "simple_rnn_state"])
    func backwardReturnStateMatchesKeras(_ name: String) throws {
        let (model, _) = try Fixtures.checkpoint("\(name).safetensors")
        let x = try Fixtures.array("\(name).input.npy")
        _ = try model.predict(x.values, count: x.shape[0], steps: x.shape[1])
        let states = model.finalStates(ofLayer: 0, batch: x.shape[0])
        #expect(states.count == 1)
        #expect(maxAbsDifference(states[0], try Fixtures.array("\(name).state_h.npy").values).value <= 1e-5)
    }

    static let optimizerCases = [
        "opt_rmsprop_gru", "opt_adam_lstm", "opt_rmsprop_clipnorm_bilstm", "opt_adam_global_clipnorm_stacked",
        "opt_sgd_momentum_gru", "opt_sgd_nesterov_rnn", "opt_rmsprop_centered_momentum_lstm",
    ]

    /// k optimizer steps on one batch reproduce Keras' losses and final weights.
    @Test(arguments: optimizerCases, GemmPath.available)
    func optimizerStepsMatchKeras(_ name: String, path: GemmPath) throws {
        try GemmPath.with(path) { try optimizerStepsMatchKeras(name) }
    }

    func optimizerStepsMatchKeras(_ name: String) throws {
        let (model, metadata) = try Fixtures.checkpoint("\(name).safetensors")
        let (after, _) = try Fixtures.checkpoint("\(name).after.safetensors")
        let x = try Fixtures.array("\(name).x.npy")
        let y = try Fixtures.array("\(name).y.npy")
        let config = try JSONDecoder().decode(OptimizerConfig.self, from: Data(metadata["optimizer"]!.utf8))
        let loss = try #require(Loss(name: metadata["loss"]!))
        let expectedLosses = try JSONDecoder().decode([Double].self, from: Data(metadata["losses"]!.utf8))
        let steps = Int(metadata["steps"]!)!
        let optimizer = Optimizer(config, parameterCount: model.parameters.count)
        var rng = SeededGenerator(seed: 1)
        let (b, t) = (x.shape[0], x.shape[1])
        for step in 0..<steps {
            let result = x.values.withUnsafeBufferPointer { xs in
                y.values.withUnsafeBufferPointer { ys in
                    model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: b, steps: t, loss: loss, rng: &rng)
                }
            }
            #expect(abs(result.loss - expectedLosses[step]) <= 1e-5 * max(1, abs(expectedLosses[step])), "\(name) step \(step) loss")
            optimizer.step(model.parameters)
        }
        for slot in after.parameters.slots {
            let diff = maxAbsDifference(model.parameters.values(of: slot), after.parameters.values(of: slot))
            #expect(diff.value <= 2e-5, "\(name) \(slot.name): max |Δ| \(diff.value) at \(diff.index)")
        }
    }
}
