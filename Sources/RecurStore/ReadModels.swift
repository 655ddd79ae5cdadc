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
    /// Trials' worth of work done: finished trials, plus each running trial's share of its
    /// epochs reported, so the ETA moves while the first trials run.
    public var trialsDone: Double = 0
    /// Seconds left at the sweep's pace so far (nil before any epoch, or when not running).
    public var etaSeconds: Double?
    /// When the sweep should end at that pace (Unix seconds); moves only when work is reported.
    public var endsAt: Double?
    /// The budget or stop rule that ended the sweep (while `running`: its running trials are finishing).
    public var stopReason: StopReason?
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
    /// The objective's spread over the finished scoring runs (nil for one run), its 95 %
    /// interval, how many runs, and whether top-K confirmation re-ran it.
    public var valSd: Double? = nil
    public var valCI95: ConfidenceInterval? = nil
    public var runs: Int = 0
    public var confirmed: Bool = false
    public var pruned: Bool { state == .pruned }
}

/// One run of a trial.
public struct RunInfo: Sendable, Equatable {
    public var number: Int
    public var kind: RunPlan.Kind
    public var fold: Int?
    public var folds: Int
    public var seedIndex: Int
    public var confirmation: Bool
    public var state: RunState
    public var value: Double?
    public var bestEpoch: Int?
    public var testMAE: Double?
    public var epochs: Int?
}

/// One attempt of a trial.
public struct AttemptInfo: Sendable, Equatable {
    public var number: Int
    /// The run it trained.
    public var run: Int?
    public var worker: String?
    public var state: AttemptState
    public var error: String?
    /// Why the pruner stopped a pruned attempt (its rule and numbers, as the worker was told).
    public var pruneReason: String? = nil
    public var startedAt: Double
    public var finishedAt: Double?
    /// The worker's release, engine and CPU, from the registration the attempt ran under.
    public var workerVersion: String?
    public var engineVersion: String?
    public var cpuFeatures: String?
}

/// One epoch of one attempt.
public struct MetricRow: Sendable, Equatable {
    public var run: Int?
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
    public var valSd: Double?
    public var valCI95: ConfidenceInterval?
    public var confirmed: Bool
    public var runs: [RunInfo]
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
