import Foundation
import Testing

@testable import RecurEngine

@Suite struct CheckpointTests {
    /// Writing tensor by tensor to a file gives the same bytes as encoding in memory.
    @Test func streamedWriteMatchesTheEncoding() throws {
        let spec = ModelSpec(
            inputFeatures: 3,
            layers: [.recurrent(RecurrentSpec(cell: .lstm, units: 4, bidirectional: true)), .dense(units: 2)]
        )
        let model = try SequentialModel(spec: spec, seed: 11)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-write-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.write(model, metadata: ["trial": "3"], to: url)
        #expect(try Data(contentsOf: url) == Checkpoint.encode(model, metadata: ["trial": "3"]))
    }

    /// init → train a step → save → load → forward gives identical outputs.
    @Test func roundTripKeepsOutputsIdentical() throws {
        let spec = try ModelSpec.parse(
            json: Data(
                """
                {"input_features": 3, "layers": [{"type": "gru", "units": 5, "return_sequences": true, "reset_after": false},
                 {"type": "lstm", "units": 4, "bidirectional": true, "merge_mode": "ave"}, {"type": "dropout", "rate": 0.5},
                 {"type": "dense", "units": 2}]}
                """.utf8
            )
        )
        let model = try SequentialModel(spec: spec, seed: 7)
        var rng = SeededGenerator(seed: 3)
        let x = standardNormal(6 * 9 * 3, rng: &rng)
        let y = standardNormal(6 * 2, rng: &rng)
        _ = x.withUnsafeBufferPointer { xs in
            y.withUnsafeBufferPointer { ys in
                model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: 6, steps: 9, loss: .meanSquaredError, rng: &rng)
            }
        }
        Optimizer(OptimizerConfig(kind: .adam), parameterCount: model.parameters.count).step(model.parameters)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-roundtrip-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.save(model, to: url, metadata: ["trial": "7"])
        let (loaded, metadata) = try Checkpoint.load(from: url)
        #expect(metadata["trial"] == "7" && metadata["format"] == "recur.model.v1")
        #expect(loaded.spec == spec)
        #expect(loaded.parameters.flatValues == model.parameters.flatValues)
        #expect(try loaded.predict(x, count: 6, steps: 9) == model.predict(x, count: 6, steps: 9))
    }

    @Test func specJSONRoundTrips() throws {
        let spec = ModelSpec(
            inputFeatures: 4,
            layers: [
                .recurrent(RecurrentSpec(cell: .gru, units: 3, returnSequences: true, recurrentDropout: 0.25, resetAfter: false)),
                .dropout(rate: 0.1), .recurrent(RecurrentSpec(cell: .simpleRNN, units: 2, bidirectional: true, mergeMode: .mul)), .dense(units: 1),
            ]
        )
        #expect(try ModelSpec.parse(json: Data(spec.jsonString().utf8)) == spec)
    }

    @Test func npyRoundTrips() throws {
        let a = NumPyArray(shape: [2, 3, 1], values: [1, -2, 3.5, 4, 5, 6e-8])
        #expect(try NumPyArray.decode(a.encoded()) == a)
    }
}
