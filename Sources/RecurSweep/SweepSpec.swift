import Foundation
import RecurEngine
import RecurForecast

/// A sweep definition (`sweeps/*.yaml`): a task, an objective, a search space and how to search,
/// train, prune and retry. Parse with ``SweepSpec/parse(yaml:source:)``, which reports every problem.
public struct SweepSpec: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable { case grid, random, tpe }

    public struct Objective: Sendable, Equatable {
        /// The validation metrics a sweep can select on (test is only reported).
        public enum Metric: String, Sendable, CaseIterable, Codable {
            case valMAE = "val_mae"
            case valLoss = "val_loss"
            /// How to name it to a reader: "val MAE" or "val loss".
            public var label: String { self == .valLoss ? "val loss" : "val MAE" }
        }
        /// Default: val_mae.
        public var metric: Metric = .valMAE
        /// Default: minimize.
        public var minimize = true

        /// The objective's value among an epoch's (or a result's) metrics.
        public func value(valMAE: Double, valLoss: Double) -> Double { metric == .valLoss ? valLoss : valMAE }
    }

    public struct Search: Sendable, Equatable {
        public var method: Method = .random
        public var seed: UInt64 = 0
        /// Trials to run (grid: at most the grid size). Default: 20 (grid: the grid size).
        public var maxTrials: Int = 20
        /// Trials leased at once. Default: 4.
        public var maxParallel: Int = 4
        /// TPE: random trials before the model is used. Default: 10.
        public var startupTrials: Int = 10
        /// TPE: candidates drawn per suggestion. Default: 24.
        public var candidates: Int = 24
        /// Budgets, stop rules and `on_stop` (none by default).
        public var stopRules = StopRules()
        /// `warm_start: {sweep: NAME}`: TPE starts from that sweep's finished trials that fit
        /// this space (same database, same objective).
        public var warmStartSweep: String?
    }

    public struct Pruning: Sendable, Equatable {
        public enum Method: String, Sendable, CaseIterable, Codable { case none, median, asha }
        public var method: Method = .none
        /// Median: epochs before pruning starts. Default: 2.
        public var warmup: Int = 2
        /// Median: other trials needed at an epoch before comparing. Default: 5.
        public var minTrials: Int = 5
        /// ASHA: the first rung's epoch. Default: 1.
        public var minEpochs: Int = 1
        /// ASHA: η. Default: 3.
        public var reductionFactor: Int = 3
    }

    /// Training settings shared by all trials; `space` parameters override them per trial.
    public struct Training: Sendable, Equatable {
        public var epochs: Int = 20
        public var batchSize: Int = 256
        public var optimizer: OptimizerConfig.Kind = .rmsprop
        public var learningRate: Float = 1e-3
        public var loss: String = "mse"
        public var clipnorm: Float?
        public var earlyStopping: EarlyStopping? = EarlyStopping()
    }

    public var name: String
    public var description: String = ""
    public var task: TaskSpec
    public var objective = Objective()
    public var search = Search()
    public var space: [Parameter] = []
    public var training = Training()
    public var pruning = Pruning()
    /// Attempts per trial, counting failures and lost leases (not releases). Default: 3.
    public var maxAttempts: Int = 3

    /// Which workers may train the sweep's trials.
    public struct Workers: Sendable, Equatable {
        /// `pinned` (default): only workers with the creator's engine version, so every trial's
        /// numbers come from one engine; `any`: every worker.
        public enum Engine: String, Sendable, CaseIterable, Codable { case pinned, any }
        public var engine: Engine = .pinned
        public init(engine: Engine = .pinned) { self.engine = engine }
    }
    public var workers = Workers()
    /// Folds, seeds, refits and confirmation (default: one run per trial on the task's split).
    public var evaluation = Evaluation()
    /// Webhook notifications (none by default).
    public var notify: Notify?

    public func parameter(_ name: String) -> Parameter? { space.first { $0.name == name } }

    /// Parameters a sweep's space may name, with what each controls.
    public static let knownParameters: [String: String] = [
        "cell": "simple_rnn, lstm or gru",
        "depth": "recurrent layers (≥ 1)",
        "units": "units per recurrent layer (≥ 1); per_layer allowed",
        "dropout": "input dropout of each recurrent layer, in [0, 1)",
        "recurrent_dropout": "recurrent dropout of each recurrent layer, in [0, 1)",
        "head_dropout": "dropout before the Dense head, in [0, 1)",
        "bidirectional": "true or false",
        "learning_rate": "> 0",
        "batch_size": "windows per batch (≥ 1)",
        "optimizer": "rmsprop, adam or sgd",
        "clipnorm": "> 0",
        "target_mode": "level, delta or seasonal_delta (the task's season)",
    ]

    /// The largest depth any trial can have (1 when depth is not searched).
    public var maximumDepth: Int {
        switch parameter("depth")?.domain {
        case .fixed(let v)?: return v.intValue ?? 1
        case .choice(let list)?: return list.compactMap(\.intValue).max() ?? 1
        case .int(_, let high, _)?: return high
        default: return 1
        }
    }
}
