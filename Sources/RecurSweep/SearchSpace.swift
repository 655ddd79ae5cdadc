import Foundation
import RecurForecast

/// A hyperparameter value: what a config holds for one parameter.
public enum ParameterValue: Hashable, Sendable, Codable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    /// Per-layer values (`per_layer` parameters), first layer first.
    case list([ParameterValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else {
            self = .list(try c.decode([ParameterValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .list(let v): try c.encode(v)
        }
    }

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return v == v.rounded() && abs(v) < 1e6 ? String(format: "%.1f", v) : String(format: "%.4g", v)
        case .bool(let v): return String(v)
        case .string(let v): return v
        case .list(let v): return "[" + v.map(\.description).joined(separator: ",") + "]"
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    /// Equality that survives a JSON round trip: `0.0` is stored as `0` and reads back as
    /// `.int(0)`, which must still match the choice `.double(0.0)`.
    public func matches(_ other: ParameterValue) -> Bool {
        switch (self, other) {
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.matches($1) }
        default:
            if let x = doubleValue, let y = other.doubleValue { return x == y }
            return self == other
        }
    }

    public var intValue: Int? {
        switch self {
        case .int(let v): return v
        case .double(let v): return Int(exactly: v)  // nil for 2.5, 1e300 and NaN alike
        default: return nil
        }
    }
}

/// Where a parameter's values come from.
public indirect enum Domain: Sendable, Equatable {
    case fixed(ParameterValue)
    case choice([ParameterValue])
    /// Integers in `[low, high]`, optionally log-uniform.
    case int(low: Int, high: Int, log: Bool)
    /// Floats in `[low, high]` (log-uniform with `log`); `grid` lists the values a grid search uses.
    case float(low: Double, high: Double, log: Bool, grid: [Double]?)
    /// One value per layer, sized by the sampled `depth`.
    case perLayer(Domain)

    /// The values a grid search enumerates, or nil when the domain is continuous without `grid:`.
    public var gridValues: [ParameterValue]? {
        switch self {
        case .fixed(let v): return [v]
        case .choice(let list): return list
        case .int(let low, let high, _): return high - low < 10_000 ? (low...high).map { .int($0) } : nil
        case .float(_, _, _, let grid): return grid?.map { .double($0) }
        case .perLayer: return nil
        }
    }
}

/// One named parameter of a search space, in the order the sweep file lists it.
public struct Parameter: Sendable, Equatable {
    public var name: String
    public var domain: Domain
}

/// A sampled configuration: parameter name → value.
public struct TrialConfig: Hashable, Sendable, Codable {
    public var values: [String: ParameterValue]

    public init(_ values: [String: ParameterValue]) { self.values = values }

    public subscript(name: String) -> ParameterValue? { values[name] }

    public init(from decoder: Decoder) throws { values = try decoder.singleValueContainer().decode([String: ParameterValue].self) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }

    /// Sorted-key compact JSON: the stored form and the input of ``hash``.
    public var canonicalJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// SHA-256 of the canonical JSON; unique per sweep, so no config is run twice by accident.
    public var hash: String { TrialConfig.hash(canonicalJSON: canonicalJSON) }

    /// ``hash`` of an already computed ``canonicalJSON``.
    public static func hash(canonicalJSON: String) -> String { sha256Hex(Data(canonicalJSON.utf8)) }

    public static func decode(json: String) throws -> TrialConfig {
        try JSONDecoder().decode(TrialConfig.self, from: Data(json.utf8))
    }
}
