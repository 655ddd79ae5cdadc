import Foundation

/// A safetensors file: an 8-byte little-endian header length, a JSON header, then raw tensor
/// bytes that the header's offsets tile exactly. Only float tensors are read (F32, F64).
public struct SafeTensors: Sendable, Equatable {
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        /// Values in row-major order (F64 files are converted).
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// The `__metadata__` string map.
    public var metadata: [String: String]
    /// Tensors in file order.
    public var tensors: [Tensor]

    public init(metadata: [String: String], tensors: [Tensor]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    public subscript(name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// The file bytes: F32 little-endian, data aligned to 8 bytes, keys sorted in the header.
    public func encoded() -> Data {
        var out = Self.header(metadata: metadata, tensors: tensors.map { ($0.name, $0.shape) })
        for t in tensors {
            t.values.withUnsafeBufferPointer { buffer in
                for v in buffer { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    /// The 8-byte length and the JSON header (padded to 8 bytes) of a file of F32 `tensors`, stored
    /// in the order given: what precedes the tensor bytes, so a writer can stream them after it.
    public static func header(metadata: [String: String], tensors: [(name: String, shape: [Int])]) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            let bytes = t.shape.reduce(1, *) * 4
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        return out
    }

    /// Parses and validates a safetensors file.
    public static func decode(_ data: Data) throws -> SafeTensors {
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else {
            throw EngineError.invalidCheckpoint("file is \(bytes.count) bytes; a safetensors file starts with an 8-byte header length")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= 100_000_000, 8 + Int(n) <= bytes.count else {
            throw EngineError.invalidCheckpoint("header length \(n) does not fit the \(bytes.count)-byte file (truncated or not safetensors)")
        }
        let headerBytes = bytes[8..<(8 + Int(n))]
        guard headerBytes.first == UInt8(ascii: "{"),
            let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any]
        else { throw EngineError.invalidCheckpoint("header is not a JSON object") }
        let base = 8 + Int(n)
        let bufferLength = bytes.count - base
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let m = raw as? [String: String] else { throw EngineError.invalidCheckpoint("__metadata__ must map strings to strings") }
            metadata = m
        }
        var entries: [(name: String, begin: Int, end: Int, shape: [Int], dtype: String)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw EngineError.invalidCheckpoint("tensor '\(name)' needs dtype, shape and data_offsets") }
            entries.append((name, offsets[0], offsets[1], shape, dtype))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        var tensors: [Tensor] = []
        for e in entries {
            let size: Int
            switch e.dtype {
            case "F32": size = 4
            case "F64": size = 8
            default: throw EngineError.invalidCheckpoint("tensor '\(e.name)' has dtype \(e.dtype); only F32 and F64 are supported")
            }
            guard e.shape.allSatisfy({ $0 >= 0 }) else { throw EngineError.invalidCheckpoint("tensor '\(e.name)' has a negative dimension") }
            guard let needed = byteCount(shape: e.shape, elementSize: size) else {
                throw EngineError.invalidCheckpoint("tensor '\(e.name)' has shape \(e.shape), too large to hold in memory")
            }
            let count = needed / size
            guard e.begin == expected, e.end >= e.begin, e.end - e.begin == needed else {
                throw EngineError.invalidCheckpoint("tensor '\(e.name)' offsets [\(e.begin), \(e.end)] do not tile the data for shape \(e.shape)")
            }
            guard e.end <= bufferLength else {
                throw EngineError.invalidCheckpoint(
                    "tensor '\(e.name)' ends at byte \(e.end) but the data has \(bufferLength) bytes (truncated file)"
                )
            }
            let values = decodeLittleEndianFloats(bytes, start: base + e.begin, count: count, size: size)
            tensors.append(Tensor(name: e.name, shape: e.shape, values: values))
            expected = e.end
        }
        guard expected == bufferLength else {
            throw EngineError.invalidCheckpoint("data is \(bufferLength) bytes but the tensors cover \(expected)")
        }
        return SafeTensors(metadata: metadata, tensors: tensors)
    }
}
