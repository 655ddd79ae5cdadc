import RecurEngine
import RecurForecast

extension SweepSpec {
    /// The model and training settings of one trial: the space's values over the sweep defaults.
    public func trainingPlan(for config: TrialConfig, features: Int, seed: UInt64) throws -> (model: ModelSpec, settings: TrainingSettings) {
        func string(_ name: String, _ fallback: String) -> String {
            if case .string(let s)? = config[name] { return s }
            return fallback
        }
        func double(_ name: String, _ fallback: Double) -> Double { config[name]?.doubleValue ?? fallback }
        let depth = config["depth"]?.intValue ?? 1
        var units: [Int] = [32]
        switch config["units"] {
        case .list(let list)?: units = list.compactMap(\.intValue)
        case let v?: units = [v.intValue ?? 32]
        case nil: break
        }
        if units.count > 1 && units.count != depth { units = Array(units.prefix(depth)) }
        var bidirectional = false
        if case .bool(let b)? = config["bidirectional"] { bidirectional = b }
        guard let cell = CellKind(rawValue: string("cell", "gru")) else { throw ForecastError("cell: unknown value") }
        let architecture = Architecture(
            cell: cell,
            units: units,
            depth: depth,
            dropout: double("dropout", 0),
            recurrentDropout: double("recurrent_dropout", 0),
            bidirectional: bidirectional,
            headDropout: double("head_dropout", 0)
        )
        var settings = TrainingSettings()
        settings.epochs = training.epochs
        settings.batchSize = config["batch_size"]?.intValue ?? training.batchSize
        settings.seed = seed
        let kind = OptimizerConfig.Kind(rawValue: string("optimizer", training.optimizer.rawValue)) ?? training.optimizer
        settings.optimizer = OptimizerConfig(kind: kind, learningRate: Float(double("learning_rate", Double(training.learningRate))))
        if let c = config["clipnorm"]?.doubleValue { settings.optimizer.clipnorm = Float(c) } else { settings.optimizer.clipnorm = training.clipnorm }
        settings.loss = training.loss
        settings.earlyStopping = training.earlyStopping
        return (try architecture.modelSpec(features: features), settings)
    }
}

extension SweepSpec {
    /// The task one trial trains on: the sweep's, with `target_mode` from the trial's config when
    /// the space searches it.
    public func task(for config: TrialConfig, base: TaskSpec) -> TaskSpec {
        var task = base
        if case .string(let mode)? = config["target_mode"], let m = TaskSpec.TargetMode(rawValue: mode) {
            // Level is written as absent, so its task reads as it always did (older workers included).
            task.targetMode = m == .level ? nil : m
            if m != .seasonalDelta { task.season = nil }
        }
        return task
    }
}
