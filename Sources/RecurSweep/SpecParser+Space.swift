import RecurForecast
import Yams

/// What values a known parameter accepts.
enum ValueRule {
    case integer(minimum: Int, maximum: Int)
    case fraction  // [0, 1)
    case positive  // > 0
    case boolean
    case word([String])

    static func of(_ name: String) -> ValueRule? {
        switch name {
        case "cell": return .word(["simple_rnn", "lstm", "gru"])
        case "optimizer": return .word(["rmsprop", "adam", "sgd"])
        case "target_mode": return .word(TaskSpec.TargetMode.allCases.map(\.rawValue))
        case "depth": return .integer(minimum: 1, maximum: 16)
        case "units": return .integer(minimum: 1, maximum: 4096)
        case "batch_size": return .integer(minimum: 1, maximum: maximumBatchSize)
        case "dropout", "recurrent_dropout", "head_dropout": return .fraction
        case "learning_rate", "clipnorm": return .positive
        case "bidirectional": return .boolean
        default: return nil
        }
    }

    static let maximumBatchSize = 65536

    /// nil when `value` is acceptable, else the reason.
    func check(_ value: ParameterValue) -> String? {
        switch (self, value) {
        case (.integer(let m, let n), .int(let v)): return v < m ? "\(v) must be ≥ \(m)" : v > n ? "\(v) must be ≤ \(n)" : nil
        case (.integer(let m, let n), _): return "\(value) must be an integer in \(m)...\(n)"
        case (.fraction, _):
            guard let v = value.doubleValue else { return "\(value) must be a number in [0, 1)" }
            return v < 0 ? "\(value) must be ≥ 0" : v >= 1 ? "\(value) must be < 1" : nil
        case (.positive, _):
            guard let v = value.doubleValue else { return "\(value) must be a number > 0" }
            return v > 0 ? nil : "\(value) must be > 0"
        case (.boolean, .bool): return nil
        case (.boolean, _): return "\(value) must be true or false"
        case (.word(let words), .string(let s)): return words.contains(s) ? nil : "'\(s)' must be one of \(words.joined(separator: ", "))"
        case (.word(let words), _): return "\(value) must be one of \(words.joined(separator: ", "))"
        }
    }

    var isInteger: Bool { if case .integer = self { return true } else { return false } }
    var isContinuous: Bool {
        switch self {
        case .fraction, .positive: return true
        default: return false
        }
    }
}

extension SpecParser {
    mutating func space(_ node: Node, into spec: inout SweepSpec) {
        guard let entries = mapping(node, "space", allowed: []) else { return }
        if entries.isEmpty { problem("space", "empty; name at least one parameter") }
        for (name, value) in entries {
            let path = "space.\(name)"
            guard let rule = ValueRule.of(name) else {
                problem(path, "unknown parameter; known: \(SweepSpec.knownParameters.keys.sorted().joined(separator: ", "))")
                continue
            }
            if let domain = domain(value, path: path, rule: rule, name: name, nested: false) {
                spec.space.append(Parameter(name: name, domain: domain))
            }
        }
    }

    mutating func domain(_ node: Node, path: String, rule: ValueRule, name: String, nested: Bool) -> Domain? {
        switch node {
        case .scalar:
            guard let v = value(node) else { return nil }
            if let reason = rule.check(v) {
                problem(path, reason)
                return nil
            }
            return .fixed(v)
        case .sequence:
            problem(path, "a bare list is ambiguous; write {choice: [...]}")
            return nil
        case .mapping:
            guard let entries = mapping(node, path, allowed: ["choice", "int", "float", "per_layer", "log", "grid"]) else { return nil }
            let map = Dictionary(entries, uniquingKeysWith: { a, _ in a })
            let kinds = ["choice", "int", "float", "per_layer"].filter { map[$0] != nil }
            guard kinds.count == 1 else {
                problem(path, kinds.isEmpty ? "expected one of choice, int, float or per_layer" : "give only one of \(kinds.joined(separator: ", "))")
                return nil
            }
            let log =
                map["log"].map {
                    bool($0)
                        ?? {
                            problem("\(path).log", "must be true or false")
                            return false
                        }()
                } ?? false
            // Keys that do not apply would otherwise be ignored silently.
            if map["log"] != nil && !["int", "float"].contains(kinds[0]) { problem("\(path).log", "applies to int and float ranges only") }
            if map["grid"] != nil && kinds[0] != "float" {
                problem(
                    "\(path).grid",
                    kinds[0] == "int"
                        ? "an int range is already a grid of every integer; list the points with choice: [...]" : "applies to float ranges only"
                )
            }
            switch kinds[0] {
            case "choice":
                guard case .sequence(let seq) = map["choice"]!, !seq.isEmpty else {
                    problem("\(path).choice", "expected a non-empty list")
                    return nil
                }
                var values: [ParameterValue] = []
                for (i, item) in seq.enumerated() {
                    guard let v = value(item) else {
                        problem("\(path).choice[\(i)]", "expected a value, got \(describe(item))")
                        continue
                    }
                    if let reason = rule.check(v) {
                        problem("\(path).choice[\(i)]", reason)
                        continue
                    }
                    if values.contains(where: { $0.matches(v) }) {
                        problem("\(path).choice[\(i)]", "\(v) is listed twice")
                        continue
                    }
                    values.append(v)
                }
                return values.isEmpty ? nil : .choice(values)
            case "int":
                guard rule.isInteger else {
                    problem("\(path).int", "\(name) is not an integer parameter; use \(rule.isContinuous ? "float" : "choice")")
                    return nil
                }
                guard let (low, high) = bounds(map["int"]!, path: "\(path).int", integer: true, rule: rule) else { return nil }
                if log && low < 1 { problem("\(path).int[0]", "\(Int(low)) must be ≥ 1 with log: true") }
                return .int(low: Int(low), high: Int(high), log: log)
            case "float":
                guard rule.isContinuous else {
                    problem("\(path).float", "\(name) is not a real-valued parameter; use \(rule.isInteger ? "int" : "choice")")
                    return nil
                }
                guard let (low, high) = bounds(map["float"]!, path: "\(path).float", integer: false, rule: rule) else { return nil }
                if log && low <= 0 { problem("\(path).float[0]", "\(low) must be > 0 with log: true") }
                var grid: [Double]?
                if let g = map["grid"] {
                    guard case .sequence(let seq) = g, !seq.isEmpty else {
                        problem("\(path).grid", "expected a non-empty list of numbers")
                        return nil
                    }
                    grid = []
                    for (i, item) in seq.enumerated() {
                        guard let v = double(item) else {
                            problem("\(path).grid[\(i)]", "expected a number, got \(describe(item))")
                            continue
                        }
                        if v < low || v > high {
                            problem("\(path).grid[\(i)]", "\(v) is outside [\(low), \(high)]")
                            continue
                        }
                        if grid!.contains(v) {
                            problem("\(path).grid[\(i)]", "\(v) is listed twice")
                            continue
                        }
                        grid!.append(v)
                    }
                }
                return .float(low: low, high: high, log: log, grid: grid)
            default:
                guard !nested else {
                    problem("\(path).per_layer", "per_layer cannot be nested")
                    return nil
                }
                guard name == "units" else {
                    problem("\(path).per_layer", "per_layer is supported for units")
                    return nil
                }
                guard let inner = domain(map["per_layer"]!, path: "\(path).per_layer", rule: rule, name: name, nested: true) else { return nil }
                return .perLayer(inner)
            }
        default:
            problem(path, "aliases are not supported")
            return nil
        }
    }

    /// `[low, high]` with both ends checked against the parameter's rule.
    mutating func bounds(_ node: Node, path: String, integer: Bool, rule: ValueRule) -> (Double, Double)? {
        guard case .sequence(let seq) = node, seq.count == 2 else {
            problem(path, "expected [low, high]")
            return nil
        }
        var ends: [Double] = []
        for (i, item) in seq.enumerated() {
            let v: ParameterValue?
            if integer { v = int(item).map { .int($0) } } else { v = double(item).map { .double($0) } }
            guard let v else {
                problem("\(path)[\(i)]", "expected \(integer ? "an integer" : "a number"), got \(describe(item))")
                continue
            }
            if let reason = rule.check(v) {
                problem("\(path)[\(i)]", reason)
                continue
            }
            ends.append(v.doubleValue!)
        }
        guard ends.count == 2 else { return nil }
        if integer ? ends[0] > ends[1] : ends[0] >= ends[1] {
            problem(path, "low \(ends[0]) must be \(integer ? "≤" : "<") high \(ends[1])")
            return nil
        }
        return (ends[0], ends[1])
    }
}
