import Foundation
import RecurForecast
import RecurSweep

// What the store answers to readers (the coordinator's API, the dashboard, the CLI with --db).
// Wire types are generated from docs/openapi.yaml in `RecurAPI`; the coordinator maps these to them.

/// A sweep's progress and best value.
public struct SweepSummary: Sendable, Equatable {
    public var name: String
    public var state: SweepState
    public var method: SweepSpec.Method
    public var maxTrials: Int
    public var trials: Int
    public var pending: Int
    public var running: Int
    public var completed: Int
    public var pruned: Int
    public var failed: Int
    /// The objective's best value (val MAE, or val loss when `objective` is val loss).
    public var bestValue: Double?
    /// The trial number with that value.
    public var bestTrial: Int?
    public var createdAt: Double
    public var objective: SweepSpec.Objective.Metric
    /// The engine version the sweep's workers must have; nil: any.
    public var engineVersion: String?
    public var datasetSHA256: String?
    /// Persistence's MAE on validation and test, and the best trial's validation skill over it.
    public var persistence: Baselines.Scores?
    public var bestValSkill: Double?
}

/// One trial of a leaderboard, with its final attempt.
public struct LeaderboardRow: Sendable, Equatable {
    public var rank: Int
    /// The sweep's trial number.
    public var trial: Int
    public var trialId: Int64
    public var params: TrialConfig
    /// The objective's value.
    public var value: Double?
    public var testMAE: Double?
    public var epochs: Int
    public var state: TrialState
    public var durationSeconds: Double?
    public var worker: String?
    /// 1 − MAE ÷ persistence's MAE on validation (when the objective is val MAE) and on test:
    /// above 0 beats "tomorrow is like today". Nil without baselines.
    public var valSkill: Double?
    public var testSkill: Double?
    public var pruned: Bool { state == .pruned }
}

/// One attempt of a trial.
public struct AttemptInfo: Sendable, Equatable {
    public var number: Int
    public var worker: String?
    public var state: AttemptState
    public var error: String?
    public var startedAt: Double
    public var finishedAt: Double?
    /// The worker's release, engine and CPU, from the registration the attempt ran under.
    public var workerVersion: String?
    public var engineVersion: String?
    public var cpuFeatures: String?
}

/// One epoch of one attempt.
public struct MetricRow: Sendable, Equatable {
    public var attempt: Int
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    public var valMAE: Double
    public var seconds: Double
}

/// A trial with its attempts and per-epoch metrics.
public struct TrialDetail: Sendable, Equatable {
    public var sweep: String
    public var trial: Int
    public var trialId: Int64
    public var state: TrialState
    public var params: TrialConfig
    /// The objective's value.
    public var value: Double?
    public var testMAE: Double?
    public var bestEpoch: Int?
    public var attempts: [AttemptInfo]
    public var metrics: [MetricRow]
    public var objective: SweepSpec.Objective.Metric
}

/// A registered worker and how many attempts it runs now.
public struct WorkerInfo: Sendable, Equatable {
    public var id: String
    public var host: String
    public var slots: Int
    public var version: String
    public var lastSeen: Double
    public var running: Int
    public var engineVersion: String?
    public var checkpointFormat: String?
    public var cpuFeatures: String?
}
