import Foundation

/// Compact, key-sorted JSON for event details: strings, integers, finite doubles, booleans and
/// nested objects of those (non-finite numbers become null). Hot path of every lease and
/// completion, so it avoids `JSONSerialization`.
enum EventJSON {
    static func object(_ detail: [String: Any]) -> String {
        var out = ""
        write(detail, into: &out)
        return out
    }

    private static func write(_ object: [String: Any], into out: inout String) {
        out += "{"
        for (i, key) in object.keys.sorted().enumerated() {
            if i > 0 { out += "," }
            string(key, into: &out)
            out += ":"
            value(object[key]!, into: &out)
        }
        out += "}"
    }

    private static func value(_ value: Any, into out: inout String) {
        switch value {
        case let v as String: string(v, into: &out)
        case let v as Bool: out += v ? "true" : "false"
        case let v as Int: out += String(v)
        case let v as Int64: out += String(v)
        case let v as Double: out += v.isFinite ? "\(v)" : "null"
        case let v as Float: out += v.isFinite ? "\(Double(v))" : "null"
        case let v as [String: Any]: write(v, into: &out)
        case let v as [Any]:
            out += "["
            for (i, element) in v.enumerated() {
                if i > 0 { out += "," }
                self.value(element, into: &out)
            }
            out += "]"
        case Optional<Any>.none: out += "null"
        default: string("\(value)", into: &out)
        }
    }

    private static func string(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
