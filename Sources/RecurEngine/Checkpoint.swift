import Foundation

/// Model checkpoints: safetensors with `format: recur.model.v1`, the spec JSON in the metadata,
/// and one F32 tensor per Keras weight named `layers.<i>.kernel` etc. (see README, "Checkpoint format").
public enum Checkpoint {
    public static let format = "recur.model.v1"

    /// The checkpoint of `model`, with extra string metadata (task, normalization stats…).
    public static func encode(_ model: SequentialModel, metadata: [String: String] = [:]) -> Data {
        var meta = metadata
        meta["format"] = format
        meta["spec"] = model.spec.jsonString()
        let p = model.parameters
        let tensors = p.slots.map { SafeTensors.Tensor(name: $0.name, shape: $0.shape, values: p.values(of: $0)) }
        return SafeTensors(metadata: meta, tensors: tensors).encoded()
    }

    /// Rebuilds a model from checkpoint bytes; returns it with the file's metadata.
    public static func decode(_ data: Data) throws -> (model: SequentialModel, metadata: [String: String]) {
        let file = try SafeTensors.decode(data)
        guard file.metadata["format"] == format else {
            throw EngineError.invalidCheckpoint("metadata format is \(file.metadata["format"].map { "'\($0)'" } ?? "missing"); expected '\(format)'")
        }
        guard let specJSON = file.metadata["spec"] else { throw EngineError.invalidCheckpoint("metadata has no 'spec'") }
        let spec: ModelSpec
        do {
            spec = try ModelSpec.parse(json: Data(specJSON.utf8))
        } catch let error as EngineError {
            throw EngineError.invalidCheckpoint("its spec is invalid: \(error)")
        }
        let model = try SequentialModel(spec: spec)
        let expected = Set(model.parameters.slots.map(\.name))
        for tensor in file.tensors where !expected.contains(tensor.name) {
            throw EngineError.invalidCheckpoint("unexpected tensor '\(tensor.name)' for this spec")
        }
        for slot in model.parameters.slots {
            guard let tensor = file[slot.name] else { throw EngineError.invalidCheckpoint("missing tensor '\(slot.name)'") }
            guard tensor.shape == slot.shape else {
                throw EngineError.invalidCheckpoint("tensor '\(slot.name)' has shape \(tensor.shape); the spec needs \(slot.shape)")
            }
            model.parameters.setValues(tensor.values, of: slot)
        }
        return (model, file.metadata)
    }

    /// Writes the checkpoint of `model` to `url` one tensor at a time, straight from the model's
    /// parameters: the same bytes as ``encode(_:metadata:)`` without a second copy of the weights.
    public static func write(_ model: SequentialModel, metadata: [String: String] = [:], to url: URL) throws {
        var meta = metadata
        meta["format"] = format
        meta["spec"] = model.spec.jsonString()
        let p = model.parameters
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = FileHandle(forWritingAtPath: url.path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
        }
        defer { try? handle.close() }
        try handle.write(contentsOf: SafeTensors.header(metadata: meta, tensors: p.slots.map { ($0.name, $0.shape) }))
        for slot in p.slots {
            var bytes = [UInt8](repeating: 0, count: slot.count * 4)
            for (i, v) in UnsafeBufferPointer(start: p.values.pointer + slot.offset, count: slot.count).enumerated() {
                withUnsafeBytes(of: v.bitPattern.littleEndian) { for j in 0..<4 { bytes[4 * i + j] = $0[j] } }
            }
            try handle.write(contentsOf: bytes)
        }
    }

    public static func save(_ model: SequentialModel, to url: URL, metadata: [String: String] = [:]) throws {
        try encode(model, metadata: metadata).write(to: url, options: .atomic)
    }

    public static func load(from url: URL) throws -> (model: SequentialModel, metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EngineError.invalidCheckpoint("cannot read \(url.path): \(error.localizedDescription)")
        }
        return try decode(data)
    }
}
