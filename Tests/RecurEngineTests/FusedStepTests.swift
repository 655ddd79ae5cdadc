import Testing

@testable import RecurEngine

/// The fused LSTM and GRU steps (`recur_*_step_avx512`: products and gates in one pass) against
/// the unfused path (the products, then the Swift gate pass): training gives the same bits, so
/// fusing changes no trial's result, and the fused path is really the one taken (on AVX-512;
/// elsewhere both runs are unfused and must still agree).
@Suite struct FusedStepTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var spec: ModelSpec
        var batch: Int
        var steps: Int
        /// Whether the first layer's directions run fused on AVX-512.
        var fuses: Bool
        var description: String { name }
    }

    static let cases: [Case] = [
        // The lecture's LSTM: whole 16-lane vectors, full row blocks.
        Case(
            name: "LSTM(32) F=14",
            spec: ModelSpec(inputFeatures: 14, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 32)), .dense(units: 1)]),
            batch: 64,
            steps: 6,
            fuses: true
        ),
        // Unit tails (20 = 16 + 4, or 8 + 8 + 4), row tails (13 rows), one feature.
        Case(
            name: "LSTM(20) F=1 B=13",
            spec: ModelSpec(inputFeatures: 1, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 20)), .dense(units: 1)]),
            batch: 13,
            steps: 5,
            fuses: true
        ),
        // Both directions, and a stacked layer whose input is the first one's output; input dropout.
        Case(
            name: "BiLSTM(16) + LSTM(24), dropout",
            spec: ModelSpec(
                inputFeatures: 3,
                layers: [
                    .recurrent(RecurrentSpec(cell: .lstm, units: 16, returnSequences: true, dropout: 0.3, bidirectional: true)),
                    .recurrent(RecurrentSpec(cell: .lstm, units: 24)), .dense(units: 1),
                ]
            ),
            batch: 37,
            steps: 4,
            fuses: true
        ),
        // Per-gate masks (recurrent dropout): unfused, and still the same result.
        Case(
            name: "LSTM(16) dropout and recurrent dropout",
            spec: ModelSpec(
                inputFeatures: 2,
                layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 16, dropout: 0.2, recurrentDropout: 0.25)), .dense(units: 1)]
            ),
            batch: 20,
            steps: 4,
            fuses: false
        ),
        Case(
            name: "GRU(32) F=14",
            spec: ModelSpec(inputFeatures: 14, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 32)), .dense(units: 1)]),
            batch: 64,
            steps: 6,
            fuses: true
        ),
        // Stacked, unit and row tails (20 = 16 + 4 units, 13 rows), one feature.
        Case(
            name: "stacked GRU(20)",
            spec: ModelSpec(
                inputFeatures: 1,
                layers: [
                    .recurrent(RecurrentSpec(cell: .gru, units: 20, returnSequences: true)), .recurrent(RecurrentSpec(cell: .gru, units: 20)),
                    .dropout(rate: 0.5), .dense(units: 1),
                ]
            ),
            batch: 13,
            steps: 5,
            fuses: true
        ),
        // The lecture's stacked GRU has recurrent dropout: unfused.
        Case(
            name: "GRU(16) recurrent dropout",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 16, recurrentDropout: 0.5)), .dense(units: 1)]),
            batch: 11,
            steps: 3,
            fuses: false
        ),
        Case(
            name: "BiGRU(16), dropout",
            spec: ModelSpec(
                inputFeatures: 3,
                layers: [.recurrent(RecurrentSpec(cell: .gru, units: 16, dropout: 0.3, bidirectional: true)), .dense(units: 1)]
            ),
            batch: 9,
            steps: 4,
            fuses: true
        ),
        // reset_before and SimpleRNN have no fused step.
        Case(
            name: "GRU(16) reset_before",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 16, resetAfter: false)), .dense(units: 1)]),
            batch: 8,
            steps: 3,
            fuses: false
        ),
    ]

    /// Three RMSprop steps; returns the losses and the parameters after them.
    static func train(_ c: Case, fused: Bool, on path: GemmPath) throws -> (losses: [Double], parameters: [Float], fused: Bool) {
        try GemmPath.$fusedSteps.withValue(fused) {
            try GemmPath.with(path) {
                let model = try SequentialModel(spec: c.spec, seed: 3)
                let optimizer = Optimizer(OptimizerConfig(kind: .rmsprop), parameterCount: model.parameters.count)
                var data = SeededGenerator(seed: 4)
                let x = standardNormal(c.batch * c.steps * c.spec.inputFeatures, rng: &data)
                let y = standardNormal(c.batch, rng: &data)
                var rng = SeededGenerator(seed: 5)
                var losses: [Double] = []
                for _ in 0..<3 {
                    let l = x.withUnsafeBufferPointer { xs in
                        y.withUnsafeBufferPointer { ys in
                            model.computeGradients(
                                x: xs.baseAddress!,
                                y: ys.baseAddress!,
                                batch: c.batch,
                                steps: c.steps,
                                loss: .meanSquaredError,
                                rng: &rng
                            )
                            .loss
                        }
                    }
                    optimizer.step(model.parameters)
                    losses.append(l)
                }
                let first = try #require(model.layers.first as? RecurrentLayer)
                return (losses, model.parameters.flatValues, first.directions.allSatisfy { $0.fusesSteps() })
            }
        }
    }

    @Test(arguments: GemmPath.available, cases)
    func fusedStepGivesTheUnfusedBits(_ path: GemmPath, _ c: Case) throws {
        let fused = try Self.train(c, fused: true, on: path)
        let unfused = try Self.train(c, fused: false, on: path)
        // Fused on the AVX-512 kernels only, and never in a native AVX-512 build (rcp14 in its gate pass).
        let expected = c.fuses && path == .avx512 && RecurrentDirection.gatesDivideExactly
        #expect(fused.fused == expected, "\(c) on \(path): fused \(fused.fused), expected \(expected)")
        #expect(!unfused.fused)
        #expect(fused.losses == unfused.losses, "\(c) on \(path)")
        let difference = maxAbsDifference(fused.parameters, unfused.parameters)
        let sameParameters = fused.parameters == unfused.parameters
        #expect(sameParameters, "\(c) on \(path): parameters differ by up to \(difference.value)")
    }
}
