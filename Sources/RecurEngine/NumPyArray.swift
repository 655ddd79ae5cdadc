import Foundation

/// A NumPy `.npy` array of floats (read: `<f4` or `<f8`, C order; written as `<f4`).
public struct NumPyArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// Parses `.npy` bytes (format versions 1–3).
    public static func decode(_ data: Data) throws -> NumPyArray {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw EngineError.invalidArray("not a .npy file (missing \\x93NUMPY magic)") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw EngineError.invalidArray("truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default: throw EngineError.invalidArray("unsupported .npy format version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw EngineError.invalidArray("truncated .npy header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header).map({ $0.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")) }) else {
            throw EngineError.invalidArray("header has no 'descr'")
        }
        let size: Int
        switch descr {
        case "<f4": size = 4
        case "<f8": size = 8
        default: throw EngineError.invalidArray("dtype \(descr) is not supported; save the array as float32 or float64 (little-endian)")
        }
        if let fortran = field("fortran_order", in: header), fortran.contains("True") {
            throw EngineError.invalidArray("array is in Fortran order; save it with np.ascontiguousarray")
        }
        guard let shapeText = field("shape", in: header) else { throw EngineError.invalidArray("header has no 'shape'") }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw EngineError.invalidArray("bad shape entry '\(d)'") }
            shape.append(v)
        }
        let start = headerStart + headerLength
        guard let needed = byteCount(shape: shape, elementSize: size) else {
            throw EngineError.invalidArray("shape \(shape) is too large to hold in memory")
        }
        guard bytes.count - start == needed else {
            throw EngineError.invalidArray("shape \(shape) needs \(needed) data bytes, file has \(bytes.count - start) (truncated?)")
        }
        let count = needed / size
        let values = decodeLittleEndianFloats(bytes, start: start, count: count, size: size)
        return NumPyArray(shape: shape, values: values)
    }

    /// `.npy` version 1.0 bytes, float32 little-endian, C order.
    public func encoded() -> Data {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// The text after `'key':` up to the next top-level comma (or the closing paren for tuples).
    private static func field(_ key: String, in header: String) -> String? {
        guard let r = header.range(of: "'\(key)':") ?? header.range(of: "\"\(key)\":") else { return nil }
        let rest = header[r.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return String(rest[..<end])
    }
}
