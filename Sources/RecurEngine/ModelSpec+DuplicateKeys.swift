/// JSON decoding keeps the last of two equal keys without a word; a spec naming `units` twice
/// is more likely a mistake than an override. This scan finds the first repeated key.
extension ModelSpec {
    /// The path of the first object that repeats a key, and the key (`("layers[0]", "units")`),
    /// or nil. Malformed JSON yields nil: the decoder reports it better.
    static func firstDuplicateKey(in json: [UInt8]) -> (path: String, key: String)? {
        var scanner = DuplicateKeyScanner(bytes: json)
        return try? scanner.value(path: "")
    }
}

private struct DuplicateKeyScanner {
    struct Malformed: Error {}
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    /// Skips space, then consumes `byte` if it is next.
    mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard i < bytes.count, bytes[i] == byte else { return false }
        i += 1
        return true
    }

    /// After an element of an object or a list: true at a comma, false at `close`.
    mutating func more(before close: UInt8) throws -> Bool {
        if take(UInt8(ascii: ",")) { return true }
        if take(close) { return false }
        throw Malformed()
    }

    /// Scans one value; returns the first duplicate inside it, if any.
    mutating func value(path: String) throws -> (path: String, key: String)? {
        skipSpace()
        guard i < bytes.count else { throw Malformed() }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var seen: Set<String> = []
            var found: (String, String)?
            if take(UInt8(ascii: "}")) { return nil }
            repeat {
                skipSpace()
                let key = try string()
                if !seen.insert(key).inserted, found == nil { found = (path, key) }
                guard take(UInt8(ascii: ":")) else { throw Malformed() }
                let inner = try value(path: path.isEmpty ? key : "\(path).\(key)")
                if found == nil { found = inner }
            } while try more(before: UInt8(ascii: "}"))
            return found
        case UInt8(ascii: "["):
            i += 1
            var found: (String, String)?
            var index = 0
            if take(UInt8(ascii: "]")) { return nil }
            repeat {
                let inner = try value(path: "\(path)[\(index)]")
                if found == nil { found = inner }
                index += 1
            } while try more(before: UInt8(ascii: "]"))
            return found
        case UInt8(ascii: "\""):
            _ = try string()
            return nil
        default:
            // A number or a literal: up to the next delimiter.
            let start = i
            while i < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
            if i == start { throw Malformed() }
            return nil
        }
    }

    /// A string's raw contents (escapes kept as written, enough to compare keys).
    mutating func string() throws -> String {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw Malformed() }
        i += 1
        let start = i
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
            if bytes[i] == UInt8(ascii: "\\") { i += 1 }
            i += 1
        }
        guard i < bytes.count else { throw Malformed() }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        i += 1
        return text
    }
}
