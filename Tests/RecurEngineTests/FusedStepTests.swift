import Testing

@testable import RecurEngine

/// The fused LSTM and GRU steps (`recur_*_step_avx512`: products and gates in one pass) and their
/// other gate passes in C (`recur_*_gates_avx512`) against the Swift path (the products,
/// then the Swift gate passes): training gives the same bits, so they change no trial's result,
/// and the C path is really the one taken (on AVX-512; elsewhere both runs take the Swift path and
/// must still agree).
@Suite struct FusedStepTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var spec: ModelSpec
        var batch: Int
        var steps: Int
        /// Whether every direction of every layer runs fused on AVX-512.
        var fuses: Bool
        /// Whether every direction runs its gate passes in C on AVX-512 (LSTM and GRU reset_after,
        /// fused or not: those passes have no products).
        var gatesInC = true
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
        // Unit tails (20 = 16 + 4), row tails (13 rows), one feature.
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
        // Unfused products with the gate passes in C: both directions, unit tails (20 = 16 + 4).
        Case(
            name: "BiGRU(20) recurrent dropout",
            spec: ModelSpec(
                inputFeatures: 3,
                layers: [.recurrent(RecurrentSpec(cell: .gru, units: 20, recurrentDropout: 0.3, bidirectional: true)), .dense(units: 1)]
            ),
            batch: 7,
            steps: 4,
            fuses: false
        ),
        Case(
            name: "BiLSTM(20) recurrent dropout",
            spec: ModelSpec(
                inputFeatures: 3,
                layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 20, recurrentDropout: 0.3, bidirectional: true)), .dense(units: 1)]
            ),
            batch: 7,
            steps: 4,
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
        // Row blocks of 1, 2 and 3 (batch 1 and 5) with a 1-unit tail.
        Case(
            name: "LSTM(17) B=1",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 17)), .dense(units: 1)]),
            batch: 1,
            steps: 4,
            fuses: true
        ),
        Case(
            name: "LSTM(17) B=5",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 17)), .dense(units: 1)]),
            batch: 5,
            steps: 4,
            fuses: true
        ),
        Case(
            name: "GRU(17) B=1",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 17)), .dense(units: 1)]),
            batch: 1,
            steps: 4,
            fuses: true
        ),
        Case(
            name: "GRU(17) B=5",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 17)), .dense(units: 1)]),
            batch: 5,
            steps: 4,
            fuses: true
        ),
        // Products the unfused step would give to OpenBLAS: narrower than 16 columns (G·H = 12),
        // or past the kernels' size (64 × 256 × 78 multiply-adds > 2²⁰). Not fused.
        Case(
            name: "LSTM(3)",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 3)), .dense(units: 1)]),
            batch: 8,
            steps: 3,
            fuses: false
        ),
        Case(
            name: "LSTM(64) F=14",
            spec: ModelSpec(inputFeatures: 14, layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 64)), .dense(units: 1)]),
            batch: 64,
            steps: 2,
            fuses: false
        ),
        // reset_before (like SimpleRNN) has no step in C, forward or backward.
        Case(
            name: "GRU(16) reset_before",
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 16, resetAfter: false)), .dense(units: 1)]),
            batch: 8,
            steps: 3,
            fuses: false,
            gatesInC: false
        ),
    ]

    /// Three RMSprop steps; returns the losses and the parameters after them.
    static func train(
        _ c: Case,
        fused: Bool,
        on path: GemmPath
    ) throws -> (losses: [Double], parameters: [Float], fused: Bool, forwardInC: Bool, backwardInC: Bool) {
        try GemmPath.$fusionEnabled.withValue(fused) {
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
                let recurrent = model.layers.compactMap { $0 as? RecurrentLayer }.flatMap(\.directions)
                let all = { (ran: KeyPath<RecurrentDirection, Bool>) in !recurrent.isEmpty && recurrent.allSatisfy { $0[keyPath: ran] } }
                return (losses, model.parameters.flatValues, all(\.lastForwardFused), all(\.lastForwardGatesInC), all(\.lastBackwardGatesInC))
            }
        }
    }

    /// On every path: the same bits either way (off AVX-512 both runs are unfused).
    @Test(arguments: GemmPath.available, cases)
    func fusedStepGivesTheUnfusedBits(_ path: GemmPath, _ c: Case) throws {
        let fused = try Self.train(c, fused: true, on: path)
        let unfused = try Self.train(c, fused: false, on: path)
        // Fused on the AVX-512 kernels only, and never in a native AVX-512 build (rcp14 in its gate pass).
        let expected = c.fuses && path == .avx512 && RecurrentDirection.gatesDivideExactly
        #expect(fused.fused == expected, "\(c) on \(path): fused \(fused.fused), expected \(expected)")
        #expect(!unfused.fused)
        let gatesExpected = c.gatesInC && path == .avx512 && RecurrentDirection.gatesDivideExactly
        #expect(fused.forwardInC == gatesExpected, "\(c) on \(path): forward gates in C \(fused.forwardInC)")
        #expect(fused.backwardInC == gatesExpected, "\(c) on \(path): backward gates in C \(fused.backwardInC)")
        #expect(!unfused.forwardInC && !unfused.backwardInC)
        #expect(fused.losses == unfused.losses, "\(c) on \(path)")
        let difference = maxAbsDifference(fused.parameters, unfused.parameters)
        let sameParameters = fused.parameters == unfused.parameters
        #expect(sameParameters, "\(c) on \(path): parameters differ by up to \(difference.value)")
    }

    /// The C kernels themselves ran: skipped, visibly, where they cannot (no AVX-512, or a
    /// native AVX-512 build).
    @Test(
        .enabled(if: GemmPath.available.contains(.avx512) && RecurrentDirection.gatesDivideExactly, "needs AVX-512 and the portable build"),
        arguments: cases.filter { $0.fuses || $0.gatesInC }
    )
    func fusedKernelsRunOnAVX512(_ c: Case) throws {
        let run = try Self.train(c, fused: true, on: .avx512)
        #expect(run.fused == c.fuses)
        #expect(run.forwardInC == c.gatesInC)
        #expect(run.backwardInC == c.gatesInC)
    }
}
