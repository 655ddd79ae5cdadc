import Foundation

extension SweepSpec {
    /// A hand-picked configuration checked against the space (`recur sweep enqueue`): every
    /// parameter named and inside its domain, fixed ones filled in, per-layer lists as long as
    /// the depth (a single value is used for every layer). Throws every problem, each naming
    /// the parameter and what it accepts.
    public func checkedConfig(_ given: [String: ParameterValue], source: String = "config") throws -> TrialConfig {
        var problems: [String] = []
        var values: [String: ParameterValue] = [:]
        for key in given.keys.sorted() where parameter(key) == nil {
            problems.append("\(key): not a parameter of this sweep's space (\(space.map(\.name).joined(separator: ", ")))")
        }
        let fixedDepth = parameter("depth").flatMap { if case .fixed(let v) = $0.domain { v.intValue } else { nil } } ?? 1
        // A depth that is no plausible layer count (1…1000) is reported below, and per-layer lists
        // are then not measured against it (nor is a list of that length built).
        let depth: Int? = given["depth"].map { $0.intValue.flatMap { (1...1000).contains($0) ? $0 : nil } } ?? fixedDepth
        for p in space {
            guard let value = given[p.name] else {
                if case .fixed(let v) = p.domain {
                    values[p.name] = v
                } else {
                    problems.append("\(p.name): missing; give a value in \(Self.accepted(p.domain))")
                }
                continue
            }
            if case .perLayer(let inner) = p.domain {
                let list: [ParameterValue]
                if case .list(let l) = value { list = l } else { list = Array(repeating: value, count: depth ?? 1) }
                if let depth, list.count != depth {
                    problems.append("\(p.name): \(list.count) values for \(depth) layers; give one per layer, or one for all")
                    continue
                }
                for (i, v) in list.enumerated() where !Self.fits(v, inner) {
                    problems.append("\(p.name)[\(i)]: \(v) is not in \(Self.accepted(inner))")
                }
                values[p.name] = .list(list)
            } else if Self.fits(value, p.domain) {
                values[p.name] = value
            } else {
                problems.append("\(p.name): \(value) is not in \(Self.accepted(p.domain))")
            }
        }
        guard problems.isEmpty else { throw SweepSpecError(source: source, problems: problems) }
        return finalize(values)
    }

    static func fits(_ v: ParameterValue, _ domain: Domain) -> Bool {
        switch domain {
        case .fixed(let f): return v.matches(f)
        case .choice(let list): return list.contains { v.matches($0) }
        case .int(let low, let high, _): return v.intValue.map { (low...high).contains($0) } ?? false
        case .float(let low, let high, _, _): return v.doubleValue.map { (low...high).contains($0) } ?? false
        case .perLayer: return false
        }
    }

    static func accepted(_ domain: Domain) -> String {
        switch domain {
        case .fixed(let v): return "[\(v)] (fixed)"
        case .choice(let list): return "{" + list.map(\.description).joined(separator: ", ") + "}"
        case .int(let low, let high, _): return "integers \(low)…\(high)"
        case .float(let low, let high, _, _): return "[\(low), \(high)]"
        case .perLayer(let inner): return "one value per layer, each in " + accepted(inner)
        }
    }
}

extension TrialConfig {
    /// `cell=gru,units=64,learning_rate=0.001,units=[32,64]` as values (numbers, true/false,
    /// `[a,b]` lists, else strings); commas inside brackets belong to the list.
    public static func parse(params text: String) throws -> [String: ParameterValue] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for ch in text {
            if ch == "[" { depth += 1 }
            if ch == "]" { depth -= 1 }
            if ch == "," && depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        parts.append(current)
        var values: [String: ParameterValue] = [:]
        for part in parts where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let eq = part.firstIndex(of: "=") else {
                throw SweepSpecError(source: "--params", problems: ["'\(part)': expected NAME=VALUE, e.g. cell=gru"])
            }
            let name = part[..<eq].trimmingCharacters(in: .whitespaces)
            let raw = part[part.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, !raw.isEmpty else {
                throw SweepSpecError(source: "--params", problems: ["'\(part)': expected NAME=VALUE, e.g. cell=gru"])
            }
            guard values[name] == nil else { throw SweepSpecError(source: "--params", problems: ["\(name): given twice"]) }
            values[name] = scalarOrList(raw)
        }
        return values
    }

    /// One value as text: a number, true/false, `[a,b]`, else a string.
    public static func parseValue(_ raw: String) -> ParameterValue { scalarOrList(raw) }

    static func scalarOrList(_ raw: String) -> ParameterValue {
        if raw.hasPrefix("[") && raw.hasSuffix("]") {
            return .list(raw.dropFirst().dropLast().split(separator: ",").map { scalarOrList($0.trimmingCharacters(in: .whitespaces)) })
        }
        if let i = Int(raw) { return .int(i) }
        if let d = Double(raw), d.isFinite { return .double(d) }
        if raw == "true" || raw == "false" { return .bool(raw == "true") }
        return .string(raw)
    }
}
