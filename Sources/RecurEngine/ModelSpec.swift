import Foundation

/// The kind of recurrent cell.
public enum CellKind: String, Codable, Sendable, CaseIterable {
    case simpleRNN = "simple_rnn"
    case lstm
    case gru

    /// Gates fused along the kernel's output axis: 1 (SimpleRNN), 4 (LSTM: i f c o), 3 (GRU: z r h).
    public var gateCount: Int {
        switch self {
        case .simpleRNN: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }
}

/// How a bidirectional layer combines its two directions. Default: `concat`.
public enum MergeMode: String, Codable, Sendable, CaseIterable {
    case concat, sum, mul, ave
}

/// A recurrent layer (SimpleRNN, LSTM or GRU), optionally bidirectional. Defaults follow Keras 3.
public struct RecurrentSpec: Sendable, Hashable {
    public var cell: CellKind
    /// Hidden size `H` per direction.
    public var units: Int
    /// Return `[B, T, H]` instead of the last output `[B, H]`. Default: false.
    public var returnSequences: Bool = false
    /// Process the sequence in reverse; a returned sequence stays in processing order. Default: false.
    public var goBackwards: Bool = false
    /// Input dropout rate in [0, 1), one mask per sample fixed across timesteps. Default: 0.
    public var dropout: Double = 0
    /// Recurrent dropout rate in [0, 1); per-gate masks as in Keras ≥ 3.8. Default: 0.
    public var recurrentDropout: Double = 0
    /// Wrap in `Bidirectional`. Default: false.
    public var bidirectional: Bool = false
    /// Bidirectional merge. Default: concat.
    public var mergeMode: MergeMode = .concat
    /// GRU only: apply the reset gate after the recurrent matmul (bias `[2, 3H]`). Default: true.
    public var resetAfter: Bool = true

    public init(
        cell: CellKind,
        units: Int,
        returnSequences: Bool = false,
        goBackwards: Bool = false,
        dropout: Double = 0,
        recurrentDropout: Double = 0,
        bidirectional: Bool = false,
        mergeMode: MergeMode = .concat,
        resetAfter: Bool = true
    ) {
        self.cell = cell
        self.units = units
        self.returnSequences = returnSequences
        self.goBackwards = goBackwards
        self.dropout = dropout
        self.recurrentDropout = recurrentDropout
        self.bidirectional = bidirectional
        self.mergeMode = mergeMode
        self.resetAfter = resetAfter
    }

    /// Channels this layer outputs per step.
    public var outputChannels: Int { bidirectional && mergeMode == .concat ? 2 * units : units }
}

/// One layer of a sequential model.
public enum LayerSpec: Sendable, Hashable {
    case recurrent(RecurrentSpec)
    /// Elementwise inverted dropout at training time; identity at inference.
    case dropout(rate: Double)
    /// A linear layer `y = x·K + b` on the last axis.
    case dense(units: Int)
}

/// A sequential model: `[B, T, F]` in, recurrent / dropout / dense layers, in order.
///
/// The JSON form is pinned (checkpoints store it):
/// `{"input_features": F, "layers": [{"type": "lstm", "units": 32, …}, {"type": "dense", "units": 1}]}`.
/// Omitted options take Keras defaults; unknown keys and types are errors.
public struct ModelSpec: Sendable, Hashable {
    public var inputFeatures: Int
    public var layers: [LayerSpec]

    public init(inputFeatures: Int, layers: [LayerSpec]) {
        self.inputFeatures = inputFeatures
        self.layers = layers
    }

    /// The model output: `[B, out]`, or `[B, T, out]` when the last layer keeps the time axis.
    public var output: (isSequence: Bool, channels: Int) {
        var sequence = true
        var channels = inputFeatures
        for layer in layers {
            switch layer {
            case .recurrent(let r):
                sequence = r.returnSequences
                channels = r.outputChannels
            case .dropout: break
            case .dense(let units): channels = units
            }
        }
        return (sequence, channels)
    }

    /// The largest `input_features` or `units` a spec may give.
    public static let maximumWidth = 1 << 16
    /// The most parameters a model may have (1 GiB of float32).
    public static let maximumParameters = 1 << 28

    /// Checks ranges and that each layer's input fits the layer before it.
    public func validate() throws {
        try checkWidth(inputFeatures, path: "input_features")
        guard !layers.isEmpty else {
            throw EngineError.invalidSpec(path: "layers", message: "a model needs at least one layer")
        }
        var sequence = true
        for (i, layer) in layers.enumerated() {
            let path = "layers[\(i)]"
            switch layer {
            case .recurrent(let r):
                try checkWidth(r.units, path: "\(path).units")
                try checkRate(r.dropout, path: "\(path).dropout")
                try checkRate(r.recurrentDropout, path: "\(path).recurrent_dropout")
                guard sequence else {
                    throw EngineError.invalidSpec(
                        path: path,
                        message:
                            "a recurrent layer needs a sequence input, but the layer before it returns only its last output; set return_sequences: true there"
                    )
                }
                if r.bidirectional && r.goBackwards {
                    throw EngineError.invalidSpec(path: "\(path).go_backwards", message: "go_backwards cannot be combined with bidirectional")
                }
                sequence = r.returnSequences
            case .dropout(let rate):
                try checkRate(rate, path: "\(path).rate")
            case .dense(let units):
                try checkWidth(units, path: "\(path).units")
            }
        }
        let parameters = parameterCount
        guard parameters <= Double(Self.maximumParameters) else {
            throw EngineError.invalidSpec(
                path: "layers",
                message:
                    "the model has \(String(format: "%.3g", parameters)) parameters, more than the \(Self.maximumParameters) allowed; use fewer units or layers"
            )
        }
    }

    /// Trainable parameters, counted in floating point so that no width can overflow it.
    var parameterCount: Double {
        var total = 0.0
        var channels = Double(inputFeatures)
        for layer in layers {
            switch layer {
            case .recurrent(let r):
                let gh = Double(r.cell.gateCount * r.units)
                let bias = r.cell == .gru && r.resetAfter ? 2 * gh : gh
                total += (r.bidirectional ? 2 : 1) * ((channels + Double(r.units)) * gh + bias)
                channels = Double(r.outputChannels)
            case .dense(let units):
                total += (channels + 1) * Double(units)
                channels = Double(units)
            case .dropout: break
            }
        }
        return total
    }

    private func checkWidth(_ width: Int, path: String) throws {
        guard width > 0 else { throw EngineError.invalidSpec(path: path, message: "expected a positive integer, got \(width)") }
        guard width <= Self.maximumWidth else {
            throw EngineError.invalidSpec(path: path, message: "\(width) is more than the \(Self.maximumWidth) allowed")
        }
    }

    private func checkRate(_ rate: Double, path: String) throws {
        guard rate.isFinite, rate >= 0, rate < 1 else {
            throw EngineError.invalidSpec(path: path, message: "expected a rate in [0, 1), got \(rate)")
        }
    }
}

// MARK: - JSON

extension ModelSpec: Codable {
    private enum Key: String, CodingKey {
        case inputFeatures = "input_features"
        case layers
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try rejectUnknownKeys(c, allowed: ["input_features", "layers"], path: "")
        guard let f = try? c.decode(Int.self, forKey: AnyKey("input_features")) else {
            throw EngineError.invalidSpec(path: "input_features", message: "expected a positive integer")
        }
        guard c.contains(AnyKey("layers")) else {
            throw EngineError.invalidSpec(path: "layers", message: "missing; expected a list of layer objects")
        }
        var list = try c.nestedUnkeyedContainer(forKey: AnyKey("layers"))
        var layers: [LayerSpec] = []
        while !list.isAtEnd {
            let index = list.currentIndex
            let layer = try list.nestedContainer(keyedBy: AnyKey.self)
            layers.append(try LayerSpec(container: layer, path: "layers[\(index)]"))
        }
        self.init(inputFeatures: f, layers: layers)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(inputFeatures, forKey: .inputFeatures)
        try c.encode(layers, forKey: .layers)
    }

    /// How a Swift type a decoder wanted reads in JSON terms.
    private static func jsonKind(of type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        case is [Any].Type: return "a list"
        default: return "an object"
        }
    }

    /// Parses and validates the pinned JSON form.
    public static func parse(json: Data) throws -> ModelSpec {
        if let (path, key) = firstDuplicateKey(in: [UInt8](json)) {
            throw EngineError.invalidSpec(path: path, message: "the key '\(key)' appears twice; keep one")
        }
        let spec: ModelSpec
        do {
            spec = try JSONDecoder().decode(ModelSpec.self, from: json)
        } catch let error as EngineError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            throw EngineError.invalidSpec(path: codingPath(context.codingPath), message: "not valid JSON (\(detail ?? context.debugDescription))")
        } catch let DecodingError.typeMismatch(type, context) {
            throw EngineError.invalidSpec(path: codingPath(context.codingPath), message: "expected \(jsonKind(of: type))")
        } catch {
            throw EngineError.invalidSpec(path: "", message: "\(error)")
        }
        try spec.validate()
        return spec
    }

    /// Compact JSON with sorted keys (stable, so it can be hashed and stored).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

extension LayerSpec: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try self.init(container: c, path: codingPath(decoder.codingPath))
    }

    init(container c: KeyedDecodingContainer<AnyKey>, path: String) throws {
        guard let type = try? c.decode(String.self, forKey: AnyKey("type")) else {
            throw EngineError.invalidSpec(path: "\(path).type", message: "missing; expected one of simple_rnn, lstm, gru, dropout, dense")
        }
        func number(_ key: String) throws -> Double? {
            guard c.contains(AnyKey(key)) else { return nil }
            guard let v = try? c.decode(Double.self, forKey: AnyKey(key)) else {
                throw EngineError.invalidSpec(path: "\(path).\(key)", message: "expected a number")
            }
            return v
        }
        func integer(_ key: String) throws -> Int {
            guard c.contains(AnyKey(key)) else {
                throw EngineError.invalidSpec(path: "\(path).\(key)", message: "missing; expected a positive integer")
            }
            guard let v = try? c.decode(Int.self, forKey: AnyKey(key)) else {
                throw EngineError.invalidSpec(path: "\(path).\(key)", message: "expected a positive integer")
            }
            return v
        }
        func flag(_ key: String) throws -> Bool? {
            guard c.contains(AnyKey(key)) else { return nil }
            guard let v = try? c.decode(Bool.self, forKey: AnyKey(key)) else {
                throw EngineError.invalidSpec(path: "\(path).\(key)", message: "expected true or false")
            }
            return v
        }
        switch type {
        case "dropout":
            try rejectUnknownKeys(c, allowed: ["type", "rate"], path: path)
            guard let rate = try number("rate") else {
                throw EngineError.invalidSpec(path: "\(path).rate", message: "missing; expected a rate in [0, 1)")
            }
            self = .dropout(rate: rate)
        case "dense":
            try rejectUnknownKeys(c, allowed: ["type", "units"], path: path)
            self = .dense(units: try integer("units"))
        default:
            guard let cell = CellKind(rawValue: type) else {
                throw EngineError.invalidSpec(
                    path: "\(path).type",
                    message: "unknown layer type '\(type)'; expected one of simple_rnn, lstm, gru, dropout, dense"
                )
            }
            var allowed: Set<String> = [
                "type", "units", "return_sequences", "go_backwards", "dropout", "recurrent_dropout", "bidirectional", "merge_mode",
            ]
            if cell == .gru { allowed.insert("reset_after") }
            try rejectUnknownKeys(c, allowed: allowed, path: path)
            var r = RecurrentSpec(cell: cell, units: try integer("units"))
            r.returnSequences = try flag("return_sequences") ?? false
            r.goBackwards = try flag("go_backwards") ?? false
            r.dropout = try number("dropout") ?? 0
            r.recurrentDropout = try number("recurrent_dropout") ?? 0
            r.bidirectional = try flag("bidirectional") ?? false
            r.resetAfter = try flag("reset_after") ?? true
            if c.contains(AnyKey("merge_mode")) {
                let raw = try? c.decode(String.self, forKey: AnyKey("merge_mode"))
                guard let raw, let mode = MergeMode(rawValue: raw) else {
                    throw EngineError.invalidSpec(path: "\(path).merge_mode", message: "expected one of concat, sum, mul, ave")
                }
                r.mergeMode = mode
            }
            self = .recurrent(r)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        switch self {
        case .dropout(let rate):
            try c.encode("dropout", forKey: AnyKey("type"))
            try c.encode(rate, forKey: AnyKey("rate"))
        case .dense(let units):
            try c.encode("dense", forKey: AnyKey("type"))
            try c.encode(units, forKey: AnyKey("units"))
        case .recurrent(let r):
            try c.encode(r.cell.rawValue, forKey: AnyKey("type"))
            try c.encode(r.units, forKey: AnyKey("units"))
            try c.encode(r.returnSequences, forKey: AnyKey("return_sequences"))
            try c.encode(r.goBackwards, forKey: AnyKey("go_backwards"))
            try c.encode(r.dropout, forKey: AnyKey("dropout"))
            try c.encode(r.recurrentDropout, forKey: AnyKey("recurrent_dropout"))
            try c.encode(r.bidirectional, forKey: AnyKey("bidirectional"))
            try c.encode(r.mergeMode.rawValue, forKey: AnyKey("merge_mode"))
            if r.cell == .gru { try c.encode(r.resetAfter, forKey: AnyKey("reset_after")) }
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

private func rejectUnknownKeys(_ c: KeyedDecodingContainer<AnyKey>, allowed: Set<String>, path: String) throws {
    for key in c.allKeys.map(\.stringValue).sorted() where !allowed.contains(key) {
        let prefix = path.isEmpty ? "" : "\(path)."
        throw EngineError.invalidSpec(path: "\(prefix)\(key)", message: "unknown key; allowed: \(allowed.sorted().joined(separator: ", "))")
    }
}

private func codingPath(_ path: [CodingKey]) -> String {
    var out = ""
    for key in path {
        if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
    }
    return out
}
