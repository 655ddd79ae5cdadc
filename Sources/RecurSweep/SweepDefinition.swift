import Foundation
import RecurEngine
import RecurForecast

/// A sweep as the coordinator stores it: the spec, parsed from its YAML once, and what the
/// coordinator learned from the dataset (its SHA-256 and feature count). It is Codable as the
/// flat JSON object the `definition_json` column has always held, so databases written before
/// it decode as they are.
public struct SweepDefinition: Codable, Sendable, Equatable {
    public var spec: SweepSpec
    public var datasetSHA256: String?
    public var features: Int?
    /// The engine version the sweep's workers must have (its creator's); nil: any engine
    /// (`workers: {engine: any}`, or a sweep stored before engines were pinned).
    public var engineVersion: String?
    /// Persistence's and the train mean's MAE on validation and test, from the dataset at
    /// creation: what a trial must beat (its skill). Nil for sweeps stored before.
    public var baselines: Baselines?

    public init(spec: SweepSpec, datasetSHA256: String?, features: Int?, engineVersion: String? = nil, baselines: Baselines? = nil) {
        self.spec = spec
        self.datasetSHA256 = datasetSHA256
        self.features = features
        self.engineVersion = engineVersion
        self.baselines = baselines
    }

    enum Keys: String, CodingKey {
        case datasetSHA256 = "dataset_sha256"
        case features
        case engineVersion = "engine_version"
        case baselines
    }

    public init(from decoder: Decoder) throws {
        spec = try SweepSpec(from: decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        datasetSHA256 = try c.decodeIfPresent(String.self, forKey: .datasetSHA256)
        features = try c.decodeIfPresent(Int.self, forKey: .features)
        engineVersion = try c.decodeIfPresent(String.self, forKey: .engineVersion)
        baselines = try c.decodeIfPresent(Baselines.self, forKey: .baselines)
    }

    public func encode(to encoder: Encoder) throws {
        try spec.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encodeIfPresent(datasetSHA256, forKey: .datasetSHA256)
        try c.encodeIfPresent(features, forKey: .features)
        try c.encodeIfPresent(engineVersion, forKey: .engineVersion)
        try c.encodeIfPresent(baselines, forKey: .baselines)
    }

    /// Compact JSON with sorted keys: the stored text.
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public static func decode(json: String) throws -> SweepDefinition {
        try JSONDecoder().decode(SweepDefinition.self, from: Data(json.utf8))
    }
}

/// The sweep file's structure, in snake_case (see ``SweepSpec/jsonString()``).
extension SweepSpec: Codable {
    enum Keys: String, CodingKey {
        case name, description, task, objective, search, space, training, pruning, retries, workers, evaluation, notify
        case parameterOrder = "parameter_order"
    }

    struct ObjectiveJSON: Codable {
        var metric: SweepSpec.Objective.Metric
        var direction: String
    }

    struct SearchJSON: Codable {
        var method: String
        var seed: UInt64
        var max_trials: Int
        var max_parallel: Int
        var n_startup: Int
        var candidates: Int
        var budget: BudgetJSON?
        var stop: StopJSON?
        var on_stop: SweepSpec.StopRules.OnStop?
        var warm_start: WarmStartJSON?
    }
    struct WarmStartJSON: Codable { var sweep: String }
    struct BudgetJSON: Codable {
        var wall_minutes: Double?
        var worker_hours: Double?
    }
    struct StopJSON: Codable {
        var target: Double?
        var no_improvement_trials: Int?
    }

    struct EarlyStoppingJSON: Codable {
        var monitor: EarlyStopping.Monitor
        var patience: Int
        var min_delta: Double
        var restore_best: Bool
    }

    struct TrainingJSON: Codable {
        var epochs: Int
        var batch_size: Int
        var optimizer: OptimizerConfig.Kind
        var learning_rate: Double
        var loss: String
        var clipnorm: Double?
        var early_stopping: EarlyStoppingJSON?
    }

    struct PruningJSON: Codable {
        var method: SweepSpec.Pruning.Method
        var warmup: Int
        var min_trials: Int
        var min_epochs: Int
        var reduction_factor: Int
    }

    struct RetriesJSON: Codable { var max_attempts: Int }
    struct NotifyJSON: Codable {
        var webhook: String
        var on: [SweepSpec.Notify.Event]
    }
    struct WorkersJSON: Codable { var engine: SweepSpec.Workers.Engine }
    struct ConfirmJSON: Codable {
        var top_k: Int
        var seeds: Int
    }
    struct FoldsJSON: Codable {
        var method: SweepSpec.Evaluation.FoldMethod
        var count: Int
    }
    struct EvaluationJSON: Codable {
        var folds: FoldsJSON
        var seeds: Int
        var refit: Bool?
        var confirm: ConfirmJSON?

        init(_ e: SweepSpec.Evaluation) {
            folds = FoldsJSON(method: e.foldMethod, count: e.foldCount)
            seeds = e.seeds
            refit = e.refit
            confirm = e.confirm.map { ConfirmJSON(top_k: $0.topK, seeds: $0.seeds) }
        }

        var evaluation: SweepSpec.Evaluation {
            SweepSpec.Evaluation(
                foldMethod: folds.method,
                folds: folds.method == .none ? 1 : folds.count,
                seeds: seeds,
                refit: refit,
                confirm: confirm.map { .init(topK: $0.top_k, seeds: $0.seeds) }
            )
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        self.init(name: try c.decode(String.self, forKey: .name), task: try c.decode(TaskSpec.self, forKey: .task))
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        let o = try c.decode(ObjectiveJSON.self, forKey: .objective)
        objective = SweepSpec.Objective(metric: o.metric, minimize: o.direction != "maximize")
        let s = try c.decode(SearchJSON.self, forKey: .search)
        guard let method = Method(rawValue: s.method) else {
            throw DecodingError.dataCorruptedError(forKey: .search, in: c, debugDescription: "unknown search method \(s.method)")
        }
        search = SweepSpec.Search(
            method: method,
            seed: s.seed,
            maxTrials: s.max_trials,
            maxParallel: s.max_parallel,
            startupTrials: s.n_startup,
            candidates: s.candidates,
            stopRules: StopRules(
                wallMinutes: s.budget?.wall_minutes,
                workerHours: s.budget?.worker_hours,
                target: s.stop?.target,
                noImprovementTrials: s.stop?.no_improvement_trials,
                onStop: s.on_stop ?? .finish
            ),
            warmStartSweep: s.warm_start?.sweep
        )
        let domains = try c.decode([String: Domain].self, forKey: .space)
        let order = try c.decodeIfPresent([String].self, forKey: .parameterOrder) ?? domains.keys.sorted()
        space = order.compactMap { name in domains[name].map { Parameter(name: name, domain: $0) } }
        let t = try c.decode(TrainingJSON.self, forKey: .training)
        training = SweepSpec.Training(
            epochs: t.epochs,
            batchSize: t.batch_size,
            optimizer: t.optimizer,
            learningRate: Float(t.learning_rate),
            loss: t.loss,
            clipnorm: t.clipnorm.map(Float.init),
            earlyStopping: t.early_stopping.map {
                EarlyStopping(monitor: $0.monitor, patience: $0.patience, minDelta: $0.min_delta, restoreBest: $0.restore_best)
            }
        )
        let p = try c.decode(PruningJSON.self, forKey: .pruning)
        pruning = SweepSpec.Pruning(
            method: p.method,
            warmup: p.warmup,
            minTrials: p.min_trials,
            minEpochs: p.min_epochs,
            reductionFactor: p.reduction_factor
        )
        maxAttempts = try c.decodeIfPresent(RetriesJSON.self, forKey: .retries)?.max_attempts ?? 3
        workers.engine = try c.decodeIfPresent(WorkersJSON.self, forKey: .workers)?.engine ?? .pinned
        evaluation = try c.decodeIfPresent(EvaluationJSON.self, forKey: .evaluation)?.evaluation ?? Evaluation()
        notify = try c.decodeIfPresent(NotifyJSON.self, forKey: .notify).map { Notify(webhook: $0.webhook, on: Set($0.on)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(name, forKey: .name)
        try c.encode(description, forKey: .description)
        try c.encode(task, forKey: .task)
        try c.encode(ObjectiveJSON(metric: objective.metric, direction: objective.minimize ? "minimize" : "maximize"), forKey: .objective)
        let r = search.stopRules
        try c.encode(
            SearchJSON(
                method: search.method.rawValue,
                seed: search.seed,
                max_trials: search.maxTrials,
                max_parallel: search.maxParallel,
                n_startup: search.startupTrials,
                candidates: search.candidates,
                budget: r.wallMinutes == nil && r.workerHours == nil ? nil : BudgetJSON(wall_minutes: r.wallMinutes, worker_hours: r.workerHours),
                stop: r.target == nil && r.noImprovementTrials == nil
                    ? nil : StopJSON(target: r.target, no_improvement_trials: r.noImprovementTrials),
                on_stop: r.isEmpty ? nil : r.onStop,
                warm_start: search.warmStartSweep.map { WarmStartJSON(sweep: $0) }
            ),
            forKey: .search
        )
        try c.encode(Dictionary(uniqueKeysWithValues: space.map { ($0.name, $0.domain) }), forKey: .space)
        try c.encode(space.map(\.name), forKey: .parameterOrder)
        try c.encode(
            TrainingJSON(
                epochs: training.epochs,
                batch_size: training.batchSize,
                optimizer: training.optimizer,
                learning_rate: Double(training.learningRate),
                loss: training.loss,
                clipnorm: training.clipnorm.map(Double.init),
                early_stopping: training.earlyStopping.map {
                    EarlyStoppingJSON(monitor: $0.monitor, patience: $0.patience, min_delta: $0.minDelta, restore_best: $0.restoreBest)
                }
            ),
            forKey: .training
        )
        try c.encode(
            PruningJSON(
                method: pruning.method,
                warmup: pruning.warmup,
                min_trials: pruning.minTrials,
                min_epochs: pruning.minEpochs,
                reduction_factor: pruning.reductionFactor
            ),
            forKey: .pruning
        )
        try c.encode(RetriesJSON(max_attempts: maxAttempts), forKey: .retries)
        // Written only when not the default, so definitions stored before read back the same.
        if workers != Workers() { try c.encode(WorkersJSON(engine: workers.engine), forKey: .workers) }
        if evaluation != Evaluation() { try c.encode(EvaluationJSON(evaluation), forKey: .evaluation) }
        if let notify {
            try c.encode(NotifyJSON(webhook: notify.webhook, on: notify.on.sorted { $0.rawValue < $1.rawValue }), forKey: .notify)
        }
    }
}

/// A domain in the sweep file's form: a value, `{"choice": […]}`, `{"int": [lo, hi], "log": …}`,
/// `{"float": [lo, hi], "log": …, "grid": […]}` or `{"per_layer": …}`.
extension Domain: Codable {
    enum Keys: String, CodingKey {
        case choice, int, float, log, grid
        case perLayer = "per_layer"
    }

    public init(from decoder: Decoder) throws {
        guard let c = try? decoder.container(keyedBy: Keys.self) else {
            self = .fixed(try ParameterValue(from: decoder))
            return
        }
        if let list = try c.decodeIfPresent([ParameterValue].self, forKey: .choice) {
            self = .choice(list)
        } else if let bounds = try c.decodeIfPresent([Int].self, forKey: .int), bounds.count == 2 {
            self = .int(low: bounds[0], high: bounds[1], log: try c.decodeIfPresent(Bool.self, forKey: .log) ?? false)
        } else if let bounds = try c.decodeIfPresent([Double].self, forKey: .float), bounds.count == 2 {
            self = .float(
                low: bounds[0],
                high: bounds[1],
                log: try c.decodeIfPresent(Bool.self, forKey: .log) ?? false,
                grid: try c.decodeIfPresent([Double].self, forKey: .grid)
            )
        } else if let inner = try c.decodeIfPresent(Domain.self, forKey: .perLayer) {
            self = .perLayer(inner)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a parameter domain"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .fixed(let value):
            try value.encode(to: encoder)
        case .choice(let list):
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(list, forKey: .choice)
        case .int(let low, let high, let log):
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode([low, high], forKey: .int)
            try c.encode(log, forKey: .log)
        case .float(let low, let high, let log, let grid):
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode([low, high], forKey: .float)
            try c.encode(log, forKey: .log)
            try c.encodeIfPresent(grid, forKey: .grid)
        case .perLayer(let inner):
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(inner, forKey: .perLayer)
        }
    }
}
