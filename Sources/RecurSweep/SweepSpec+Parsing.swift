import Foundation
import RecurEngine
import RecurForecast
import Yams

/// Every problem found in a sweep file, each as `path: message` (e.g.
/// `space.dropout.float[1]: 1.5 must be < 1`).
public struct SweepSpecError: Error, CustomStringConvertible, Equatable, Sendable {
    public var source: String
    public var problems: [String]

    public init(source: String, problems: [String]) {
        self.source = source
        self.problems = problems
    }

    /// One line per problem, each prefixed with the file.
    public var description: String { problems.map { "\(source): \($0)" }.joined(separator: "\n") }
}

extension SweepSpec {
    /// Reads and validates a sweep file.
    public static func load(path: String) throws -> (spec: SweepSpec, yaml: String) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SweepSpecError(source: path, problems: ["cannot read the file (\(error.localizedDescription))"])
        }
        return (try parse(yaml: text, source: path), text)
    }

    /// Parses YAML and reports all problems at once.
    public static func parse(yaml: String, source: String = "sweep") throws -> SweepSpec {
        var parser = SpecParser()
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw SweepSpecError(
                source: source,
                problems: ["not valid YAML: \(String(describing: error).split(separator: "\n").joined(separator: " "))"]
            )
        }
        guard let root, let spec = parser.sweep(root) else {
            throw SweepSpecError(
                source: source,
                problems: parser.problems.isEmpty ? ["the file is empty; expected a mapping with name, task, space…"] : parser.problems
            )
        }
        guard parser.problems.isEmpty else { throw SweepSpecError(source: source, problems: parser.problems) }
        return spec
    }
}

/// Walks the YAML tree, collecting problems instead of stopping at the first.
struct SpecParser {
    var problems: [String] = []
    var monitorGiven = false

    mutating func problem(_ path: String, _ message: String) { problems.append("\(path): \(message)") }

    // MARK: Scalars

    func text(_ node: Node) -> String? {
        if case .scalar(let s) = node { return s.string }
        return nil
    }

    func int(_ node: Node) -> Int? { text(node).flatMap { Int($0) } }
    func double(_ node: Node) -> Double? { text(node).flatMap { Double($0) }.flatMap { $0.isFinite ? $0 : nil } }
    func bool(_ node: Node) -> Bool? {
        switch text(node) {
        case "true", "True", "TRUE", "yes", "on": return true
        case "false", "False", "FALSE", "no", "off": return false
        default: return nil
        }
    }

    func value(_ node: Node) -> ParameterValue? {
        guard case .scalar(let s) = node else { return nil }
        if s.style == .plain || s.style == .any {
            if let i = Int(s.string) { return .int(i) }
            if let d = Double(s.string), d.isFinite { return .double(d) }
            if let b = bool(node) { return .bool(b) }
        }
        return .string(s.string)
    }

    /// Mapping entries as (key, value), or a problem when `node` is not a mapping.
    mutating func mapping(_ node: Node, _ path: String, allowed: [String]) -> [(String, Node)]? {
        guard case .mapping(let m) = node else {
            problem(path, "expected a mapping with keys \(allowed.joined(separator: ", "))")
            return nil
        }
        var out: [(String, Node)] = []
        for (k, v) in m {
            let key = text(k) ?? "?"
            if !allowed.isEmpty && !allowed.contains(key) {
                problem(path.isEmpty ? key : "\(path).\(key)", "unknown key; allowed: \(allowed.joined(separator: ", "))")
                continue
            }
            out.append((key, v))
        }
        return out
    }

    /// An integer in `minimum...maximum`; the cap keeps later arithmetic (rungs, counts) in range.
    mutating func positiveInt(_ node: Node, _ path: String, minimum: Int = 1, maximum: Int = 1_000_000) -> Int? {
        guard let v = int(node) else {
            problem(path, "expected an integer ≥ \(minimum), got \(describe(node))")
            return nil
        }
        guard v >= minimum else {
            problem(path, "\(v) must be ≥ \(minimum)")
            return nil
        }
        guard v <= maximum else {
            problem(path, "\(v) must be ≤ \(maximum)")
            return nil
        }
        return v
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        default: return "an alias"
        }
    }

    // MARK: Top level

    mutating func sweep(_ root: Node) -> SweepSpec? {
        let keys = [
            "name", "description", "task", "objective", "search", "space", "training", "pruning", "retries", "workers", "evaluation", "notify",
        ]
        guard let entries = mapping(root, "", allowed: keys) else { return nil }
        let map = Dictionary(entries, uniquingKeysWith: { a, _ in a })
        var name = ""
        if let n = map["name"], let s = text(n), !s.isEmpty {
            if s.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", options: .regularExpression) == nil {
                problem("name", "'\(s)' must be letters, digits, '.', '_' or '-'")
            } else if s.count > 200 {
                problem("name", "\(s.count) characters; at most 200 (the API's limit for a sweep's name)")
            }
            name = s
        } else {
            problem("name", "missing; give the sweep a name like lecture")
        }
        var task = TaskSpec(dataset: "", target: "")
        if let t = map["task"] {
            do {
                task = try YAMLDecoder().decode(TaskSpec.self, from: t)
                for p in task.problems(prefix: "task") { problems.append(p) }
            } catch let error as ForecastError {
                problems.append(error.description)
            } catch let DecodingError.dataCorrupted(context) {
                problems.append((context.underlyingError as? ForecastError)?.description ?? "task: \(context.debugDescription)")
            } catch {
                problem("task", "\(error)")
            }
        } else {
            problem("task", "missing; expected dataset, target, sequence_length, horizon…")
        }
        var spec = SweepSpec(name: name, task: task)
        if let d = map["description"] { spec.description = text(d) ?? "" }
        if let o = map["objective"] { objective(o, into: &spec) }
        if let s = map["space"] {
            space(s, into: &spec)
        } else {
            problem("space", "missing; name at least one parameter, e.g. cell: {choice: [lstm, gru]}")
        }
        if let s = map["search"] { search(s, into: &spec) }
        if let t = map["training"] { training(t, into: &spec) }
        if let p = map["pruning"] { pruning(p, into: &spec) }
        // Early stopping watches the objective unless told otherwise, so the epoch it keeps is the
        // one the trial is ranked by.
        if !monitorGiven, var e = spec.training.earlyStopping, let m = EarlyStopping.Monitor(rawValue: spec.objective.metric.rawValue) {
            e.monitor = m
            spec.training.earlyStopping = e
        }
        if let r = map["retries"], let entries = mapping(r, "retries", allowed: ["max_attempts"]) {
            for (k, v) in entries where k == "max_attempts" {
                spec.maxAttempts = positiveInt(v, "retries.max_attempts", maximum: 100) ?? spec.maxAttempts
            }
        }
        if let w = map["workers"], let entries = mapping(w, "workers", allowed: ["engine"]) {
            for (k, v) in entries where k == "engine" {
                if let s = text(v), let engine = SweepSpec.Workers.Engine(rawValue: s) {
                    spec.workers.engine = engine
                } else {
                    problem("workers.engine", "expected pinned (only workers with the creator's engine version) or any")
                }
            }
        }
        if let e = map["evaluation"] { evaluation(e, into: &spec) }
        if let n = map["notify"] { notify(n, into: &spec) }
        crossChecks(&spec, searchGiven: map["search"])
        return spec
    }

    mutating func notify(_ node: Node, into spec: inout SweepSpec) {
        guard let entries = mapping(node, "notify", allowed: ["webhook", "on"]) else { return }
        let map = Dictionary(entries, uniquingKeysWith: { a, _ in a })
        guard let w = map["webhook"].flatMap(text) else {
            problem("notify.webhook", "missing; give the URL to POST to, e.g. https://hooks.example.com/recur")
            return
        }
        guard let url = URL(string: w), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
            problem("notify.webhook", "'\(w)' is not an http:// or https:// URL")
            return
        }
        if let port = SweepSpec.Notify.badPort(w) {
            problem("notify.webhook", "port \(port) in '\(w)' must be from 1 to 65535")
            return
        }
        var notify = SweepSpec.Notify(webhook: w)
        if let on = map["on"] {
            guard case .sequence(let list) = on else {
                problem("notify.on", "expected a list of done, failed, new_best")
                return
            }
            notify.on = []
            for (i, item) in list.enumerated() {
                if let e = text(item).flatMap(SweepSpec.Notify.Event.init(rawValue:)) {
                    notify.on.insert(e)
                } else {
                    problem("notify.on[\(i)]", "\(describe(item)) must be done, failed or new_best")
                }
            }
        }
        spec.notify = notify
    }

    mutating func evaluation(_ node: Node, into spec: inout SweepSpec) {
        guard let entries = mapping(node, "evaluation", allowed: ["folds", "seeds", "refit", "confirm"]) else { return }
        var e = SweepSpec.Evaluation()
        for (k, v) in entries {
            let path = "evaluation.\(k)"
            switch k {
            case "folds":
                if text(v) == "none" { continue }
                guard let fields = mapping(v, path, allowed: ["method", "count"]) else { continue }
                let map = Dictionary(fields, uniquingKeysWith: { a, _ in a })
                guard let m = map["method"].flatMap(text), let method = SweepSpec.Evaluation.FoldMethod(rawValue: m) else {
                    problem("\(path).method", "expected rolling_origin or none")
                    continue
                }
                e.foldMethod = method
                if method == .rollingOrigin {
                    guard let c = map["count"] else {
                        problem("\(path).count", "missing; give the number of rolling-origin folds, e.g. count: 3")
                        continue
                    }
                    e.folds = positiveInt(c, "\(path).count", minimum: 2, maximum: 20) ?? e.folds
                }
            case "seeds": e.seeds = positiveInt(v, path, maximum: 50) ?? e.seeds
            case "refit":
                if let b = bool(v) { e.refit = b } else { problem(path, "expected true or false") }
            case "confirm":
                guard let fields = mapping(v, path, allowed: ["top_k", "seeds"]) else { continue }
                let map = Dictionary(fields, uniquingKeysWith: { a, _ in a })
                guard let topK = map["top_k"], let seeds = map["seeds"] else {
                    problem(path, "expected top_k (configurations to confirm) and seeds (extra seeds each), e.g. {top_k: 3, seeds: 2}")
                    continue
                }
                if let k = positiveInt(topK, "\(path).top_k", maximum: 100), let s = positiveInt(seeds, "\(path).seeds", maximum: 50) {
                    e.confirm = .init(topK: k, seeds: s)
                }
            default: break
            }
        }
        spec.evaluation = e
    }

    mutating func objective(_ node: Node, into spec: inout SweepSpec) {
        guard let entries = mapping(node, "objective", allowed: ["metric", "direction"]) else { return }
        for (k, v) in entries {
            switch k {
            case "metric":
                let m = text(v) ?? ""
                if let metric = SweepSpec.Objective.Metric(rawValue: m) {
                    spec.objective.metric = metric
                } else {
                    problem("objective.metric", "'\(m)' must be val_mae or val_loss (select on validation, report test)")
                }
            default:
                switch text(v) {
                case "minimize": spec.objective.minimize = true
                case "maximize": problem("objective.direction", "val_mae and val_loss are errors: only minimize makes sense; remove the line")
                default: problem("objective.direction", "\(describe(v)) must be minimize or maximize")
                }
            }
        }
    }

    mutating func search(_ node: Node, into spec: inout SweepSpec) {
        let allowed = ["method", "seed", "max_trials", "max_parallel", "n_startup", "candidates", "budget", "stop", "on_stop", "warm_start"]
        guard let entries = mapping(node, "search", allowed: allowed) else { return }
        for (k, v) in entries {
            let path = "search.\(k)"
            switch k {
            case "method":
                if let m = text(v).flatMap(SweepSpec.Method.init(rawValue:)) {
                    spec.search.method = m
                } else {
                    problem(path, "\(describe(v)) must be grid, random or tpe")
                }
            case "seed":
                if let s = text(v).flatMap({ UInt64($0) }) {
                    spec.search.seed = s
                } else {
                    problem(path, "expected a non-negative integer, got \(describe(v))")
                }
            case "max_trials": spec.search.maxTrials = positiveInt(v, path) ?? spec.search.maxTrials
            case "max_parallel": spec.search.maxParallel = positiveInt(v, path) ?? spec.search.maxParallel
            case "n_startup": spec.search.startupTrials = positiveInt(v, path) ?? spec.search.startupTrials
            case "budget":
                for (key, value) in mapping(v, path, allowed: ["wall_minutes", "worker_hours"]) ?? [] {
                    guard let x = double(value), x > 0 else {
                        problem("\(path).\(key)", "\(describe(value)) must be a number > 0")
                        continue
                    }
                    if key == "wall_minutes" { spec.search.stopRules.wallMinutes = x } else { spec.search.stopRules.workerHours = x }
                }
            case "stop":
                for (key, value) in mapping(v, path, allowed: ["target", "no_improvement_trials"]) ?? [] {
                    if key == "target" {
                        if let x = double(value) {
                            spec.search.stopRules.target = x
                        } else {
                            problem("\(path).target", "\(describe(value)) must be a number")
                        }
                    } else {
                        spec.search.stopRules.noImprovementTrials = positiveInt(value, "\(path).no_improvement_trials")
                    }
                }
            case "warm_start":
                let fields = Dictionary(mapping(v, path, allowed: ["sweep"]) ?? [], uniquingKeysWith: { a, _ in a })
                if let name = fields["sweep"].flatMap(text), !name.isEmpty {
                    spec.search.warmStartSweep = name
                } else {
                    problem("\(path).sweep", "missing; name the earlier sweep (in the same database) to start from, e.g. {sweep: lecture}")
                }
            case "on_stop":
                if let o = text(v).flatMap(SweepSpec.StopRules.OnStop.init(rawValue:)) {
                    spec.search.stopRules.onStop = o
                } else {
                    problem(path, "\(describe(v)) must be finish (running trials finish) or release (they stop now)")
                }
            default: spec.search.candidates = positiveInt(v, path) ?? spec.search.candidates
            }
        }
    }

    mutating func training(_ node: Node, into spec: inout SweepSpec) {
        let keys = ["epochs", "batch_size", "optimizer", "learning_rate", "loss", "clipnorm", "early_stopping"]
        guard let entries = mapping(node, "training", allowed: keys) else { return }
        for (k, v) in entries {
            let path = "training.\(k)"
            switch k {
            case "epochs": spec.training.epochs = positiveInt(v, path) ?? spec.training.epochs
            case "batch_size": spec.training.batchSize = positiveInt(v, path, maximum: ValueRule.maximumBatchSize) ?? spec.training.batchSize
            case "optimizer":
                if let o = text(v).flatMap(OptimizerConfig.Kind.init(rawValue:)) {
                    spec.training.optimizer = o
                } else {
                    problem(path, "\(describe(v)) must be rmsprop, adam or sgd")
                }
            case "learning_rate":
                if let lr = double(v), lr > 0 { spec.training.learningRate = Float(lr) } else { problem(path, "\(describe(v)) must be a number > 0") }
            case "loss":
                if let l = text(v), Loss(name: l) != nil { spec.training.loss = l } else { problem(path, "\(describe(v)) must be mse, mae or huber") }
            case "clipnorm":
                if let c = double(v), c > 0 { spec.training.clipnorm = Float(c) } else { problem(path, "\(describe(v)) must be a number > 0") }
            default:
                if bool(v) == false {
                    spec.training.earlyStopping = nil
                    continue
                }
                guard let es = mapping(v, path, allowed: ["patience", "monitor", "min_delta", "restore_best"]) else { continue }
                var e = EarlyStopping()
                for (ek, ev) in es {
                    switch ek {
                    case "patience": e.patience = positiveInt(ev, "\(path).patience", minimum: 0) ?? e.patience
                    case "monitor":
                        monitorGiven = true
                        if let m = text(ev).flatMap(EarlyStopping.Monitor.init(rawValue:)) {
                            e.monitor = m
                            if m.rawValue != spec.objective.metric.rawValue {
                                problem(
                                    "\(path).monitor",
                                    "\(m.rawValue) differs from objective.metric \(spec.objective.metric.rawValue), so trials would be ranked at the epoch another metric chose; remove the line (it follows the objective)"
                                )
                            }
                        } else {
                            problem("\(path).monitor", "\(describe(ev)) must be val_mae or val_loss")
                        }
                    case "min_delta":
                        if let d = double(ev), d >= 0 { e.minDelta = d } else { problem("\(path).min_delta", "\(describe(ev)) must be a number ≥ 0") }
                    default:
                        if let b = bool(ev) { e.restoreBest = b } else { problem("\(path).restore_best", "\(describe(ev)) must be true or false") }
                    }
                }
                spec.training.earlyStopping = e
            }
        }
    }

    mutating func pruning(_ node: Node, into spec: inout SweepSpec) {
        guard let entries = mapping(node, "pruning", allowed: ["method", "warmup", "min_trials", "min_epochs", "reduction_factor"]) else { return }
        for (k, v) in entries {
            let path = "pruning.\(k)"
            switch k {
            case "method":
                if let m = text(v).flatMap(SweepSpec.Pruning.Method.init(rawValue:)) {
                    spec.pruning.method = m
                } else {
                    problem(path, "\(describe(v)) must be none, median or asha")
                }
            case "warmup": spec.pruning.warmup = positiveInt(v, path, minimum: 0) ?? spec.pruning.warmup
            case "min_trials": spec.pruning.minTrials = positiveInt(v, path) ?? spec.pruning.minTrials
            case "min_epochs": spec.pruning.minEpochs = positiveInt(v, path) ?? spec.pruning.minEpochs
            default: spec.pruning.reductionFactor = positiveInt(v, path, minimum: 2, maximum: 100) ?? spec.pruning.reductionFactor
            }
        }
    }

    mutating func crossChecks(_ spec: inout SweepSpec, searchGiven: Node?) {
        if spec.search.warmStartSweep != nil && spec.search.method != .tpe {
            problem("search.warm_start", "only TPE learns from earlier trials; use method: tpe, or drop warm_start")
        }
        if let w = spec.search.warmStartSweep, w == spec.name {
            problem("search.warm_start.sweep", "'\(w)' is this sweep; name an earlier one")
        }
        // A searched seasonal_delta must fit the task's window as a fixed one would.
        if let p = spec.parameter("target_mode"), (p.domain.gridValues ?? []).contains(.string("seasonal_delta")), spec.task.mode != .seasonalDelta {
            var task = spec.task
            task.targetMode = .seasonalDelta
            for problem in task.problems(prefix: "task") where problem.hasPrefix("task.season") { problems.append(problem + " (space.target_mode)") }
        }
        // A loss is in each trial's standardized units, which differ between target modes.
        if let p = spec.parameter("target_mode"), Set((p.domain.gridValues ?? []).map(\.description)).count > 1, spec.objective.metric == .valLoss {
            problem(
                "objective.metric",
                "val_loss is in each trial's standardized units, which differ between target modes; use val_mae when searching target_mode"
            )
        }
        // A loss is in standardized units, and each fold standardizes on its own training rows.
        if spec.evaluation.foldMethod == .rollingOrigin && spec.objective.metric == .valLoss {
            problem(
                "objective.metric",
                "val_loss is in each fold's standardized units, which differ between folds; use val_mae with rolling-origin folds"
            )
        }
        if spec.search.method == .grid {
            for p in spec.space where p.domain.gridValues == nil {
                if case .perLayer(let inner) = p.domain, inner.gridValues != nil { continue }
                problem("space.\(p.name)", "grid search needs discrete values; use choice, int, or float with grid: [...]")
            }
            let size = GridSampler.distinctSize(of: spec)
            let explicit =
                searchGiven.flatMap { n -> Bool? in
                    if case .mapping(let m) = n { return m.keys.contains { text($0) == "max_trials" } }
                    return nil
                } ?? false
            if !explicit {
                // The same cap as an explicit max_trials: a grid is leased, planned and listed point by point.
                if size > 1_000_000 {
                    let count = size >= Int.max / 2 ? "over 10^18" : String(size)
                    problem("space", "the grid holds \(count) points, more than 1000000; narrow the space or set search.max_trials")
                }
                spec.search.maxTrials = max(1, min(size, 1_000_000))
            }
        }
        if spec.pruning.method == .asha && spec.pruning.minEpochs >= spec.training.epochs {
            problem("pruning.min_epochs", "\(spec.pruning.minEpochs) must be < training.epochs (\(spec.training.epochs)) for ASHA to have a rung")
        }
    }
}
