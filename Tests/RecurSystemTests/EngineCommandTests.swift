import ArgumentParser
import Foundation
import RecurEngine
import Testing

@testable import RecurCLI

@Suite(.systemTestSlot) struct EngineCommandTests {
    let spec =
        #"{"input_features": 3, "layers": [{"type": "lstm", "units": 4, "return_sequences": true}, {"type": "gru", "units": 3}, {"type": "dense", "units": 2}]}"#

    /// init → forward through the binary equals the engine's own prediction.
    @Test func initThenForwardThroughTheBinary() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(spec.utf8).write(to: dir.appendingPathComponent("spec.json"))
        let initResult = try await RecurBinary.run(
            ["engine", "init", "--spec", "spec.json", "--seed", "3", "--output", "m.safetensors"],
            directory: dir
        )
        #expect(initResult.status == 0, "\(initResult.stderr)")
        var rng = SeededGenerator(seed: 1)
        let x = NumPyArray(shape: [5, 7, 3], values: (0..<105).map { _ in Float(rng.nextNormal()) })
        try x.encoded().write(to: dir.appendingPathComponent("x.npy"))
        let forward = try await RecurBinary.run(
            ["engine", "forward", "--checkpoint", "m.safetensors", "--input", "x.npy", "--output", "y.npy"],
            directory: dir
        )
        #expect(forward.status == 0, "\(forward.stderr)")
        let y = try NumPyArray.decode(Data(contentsOf: dir.appendingPathComponent("y.npy")))
        #expect(y.shape == [5, 2])
        let (model, metadata) = try Checkpoint.load(from: dir.appendingPathComponent("m.safetensors"))
        #expect(metadata["seed"] == "3")
        // The binary may run other BLAS kernels than this process (it selects them), so compare to 1e-6.
        let expected = try model.predict(x.values, count: 5, steps: 7)
        #expect(zip(expected, y.values).allSatisfy { abs($0 - $1) <= 1e-6 })
    }

    @Test func inProcessInitWritesACheckpoint() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let specURL = dir.appendingPathComponent("spec.json")
        let out = dir.appendingPathComponent("m.safetensors")
        try Data(spec.utf8).write(to: specURL)
        var command = try #require(
            try RecurCommand.parseAsRoot(["engine", "init", "--spec", specURL.path, "--seed", "9", "--output", out.path]) as? AsyncParsableCommand
        )
        try await command.run()
        #expect(try Checkpoint.load(from: out).model.parameters.count > 0)
    }

    static let badInvocations: [(arguments: [String], files: [String: Data], message: String, status: Int32)] = [
        (
            ["engine", "init", "--spec", "spec.json", "--output", "m.safetensors"],
            ["spec.json": Data(#"{"input_features": 3, "layers": [{"type": "rnn9", "units": 4}]}"#.utf8)],
            "layers[0].type: unknown layer type 'rnn9'", 1
        ),
        (
            ["engine", "init", "--spec", "spec.json", "--output", "m.safetensors"],
            ["spec.json": Data(#"{"input_features": 3, "layers": [{"type": "gru", "units": 0}]}"#.utf8)],
            "layers[0].units: expected a positive integer, got 0", 1
        ),
        (
            ["engine", "init", "--spec", "spec.json", "--output", "m.safetensors"],
            ["spec.json": Data(#"{"input_features": 3, "layers": [{"type": "gru", "units": 4, "dropout": 1}]}"#.utf8)],
            "layers[0].dropout: expected a rate in [0, 1)", 1
        ),
        (["engine", "init", "--spec", "missing.json", "--output", "m.safetensors"], [:], "cannot read spec file missing.json", 1),
        (["engine", "forward", "--checkpoint", "nope.safetensors", "--input", "x.npy", "--output", "y.npy"], [:], "cannot read", 1),
        (
            ["engine", "forward", "--checkpoint", "bad.safetensors", "--input", "x.npy", "--output", "y.npy"],
            ["bad.safetensors": Data([1, 2, 3])], "8-byte header length", 1
        ),
        (["engine", "init", "--spec"], [:], "Missing value for '--spec <spec>'", 64),
        (["engine", "init", "--spec", "s.json", "--output", "m", "--seed", "minus"], [:], "--seed", 64),
        (["engine", "launch"], [:], "Unexpected argument 'launch'", 64),
        (["bench", "engine", "--models", "transformer"], [:], "--models: unknown model 'transformer'", 64),
    ]

    @Test(arguments: badInvocations.indices)
    func badInputGivesAOneLineErrorAndNonZeroExit(_ index: Int) async throws {
        let bad = Self.badInvocations[index]
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, data) in bad.files { try data.write(to: dir.appendingPathComponent(name)) }
        let result = try await RecurBinary.run(bad.arguments, directory: dir)
        #expect(result.status == bad.status, "\(bad.arguments): \(result.stderr)")
        #expect(result.stderr.contains(bad.message), "\(bad.arguments): \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }

    /// Arrays of the wrong dtype or shape for the model are refused with the reason.
    @Test func forwardRejectsMismatchedArrays() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SequentialModel(spec: ModelSpec.parse(json: Data(spec.utf8)), seed: 1)
        try Checkpoint.save(model, to: dir.appendingPathComponent("m.safetensors"))
        try NumPyArray(shape: [2, 4, 5], values: Array(repeating: 0, count: 40)).encoded().write(to: dir.appendingPathComponent("wide.npy"))
        try NumPyArray(shape: [2, 4], values: Array(repeating: 0, count: 8)).encoded().write(to: dir.appendingPathComponent("flat.npy"))
        var ints = [UInt8](NumPyArray(shape: [1, 1, 3], values: [1, 2, 3]).encoded())
        if let at = (0..<(ints.count - 3)).first(where: { Array(ints[$0..<($0 + 3)]) == Array("<f4".utf8) }) {
            ints.replaceSubrange(at..<(at + 3), with: Array("<i4".utf8))
        }
        try Data(ints).write(to: dir.appendingPathComponent("ints.npy"))
        for (file, message) in [
            ("wide.npy", "has 5 features per step; the model expects 3"), ("flat.npy", "expected [batch, timesteps, 3]"),
            ("ints.npy", "dtype <i4 is not supported"),
        ] {
            let result = try await RecurBinary.run(
                ["engine", "forward", "--checkpoint", "m.safetensors", "--input", file, "--output", "y.npy"],
                directory: dir
            )
            #expect(result.status == 1)
            #expect(result.stderr.contains(message), "\(file): \(result.stderr)")
        }
    }
}
