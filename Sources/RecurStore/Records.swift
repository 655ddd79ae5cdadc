import Foundation
import GRDB
import RecurSweep

public enum SweepState: String, Codable, Sendable, CaseIterable { case running, paused, cancelled, done }
public enum TrialState: String, Codable, Sendable, CaseIterable { case pending, running, completed, pruned, failed }
public enum AttemptState: String, Codable, Sendable, CaseIterable { case running, succeeded, failed, lost, pruned, released }
/// A run's state; `cancelled`: never leased, because its trial was pruned or failed first.
public enum RunState: String, Codable, Sendable, CaseIterable { case pending, running, succeeded, pruned, failed, cancelled }

/// Records use snake_case columns, as the migrations define them.
public protocol SnakeCaseRecord: Codable, FetchableRecord, MutablePersistableRecord {}

extension SnakeCaseRecord {
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    public static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}

public struct SweepRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "sweeps"
    public var id: Int64?
    public var name: String
    public var definitionYaml: String
    /// The `definition_json` column, typed: the spec parsed from `definitionYaml` once, with the
    /// dataset's hash and feature count (GRDB stores it as JSON).
    public var definitionJson: SweepDefinition
    public var state: SweepState
    public var createdAt: Double
    public var updatedAt: Double
    /// The budget or stop rule that ended (or is ending) the sweep; nil: none did.
    public var stopRule: StopReason.Rule?
    public var stopMessage: String?

    /// Why a budget or stop rule ended the sweep (while `running`: it is finishing its running trials).
    public var stopReason: StopReason? { stopRule.map { StopReason(rule: $0, message: stopMessage ?? $0.rawValue) } }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct TrialRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "trials"
    public var id: Int64?
    public var sweepId: Int64
    public var number: Int
    public var configJson: String
    public var configHash: String
    public var state: TrialState
    public var bestValMetric: Double?
    public var bestEpoch: Int?
    public var testMetric: Double?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// The spread of the scoring runs' objective (migration 0006): sample sd, how many finished
    /// scoring runs the mean `bestValMetric` is over, and its 95 % Student's t interval.
    public var valSd: Double? = nil
    public var valRuns: Int? = nil
    public var valCiLow: Double? = nil
    public var valCiHigh: Double? = nil
    /// Re-run with more seeds by top-K confirmation, every confirmation run finished.
    public var confirmed: Bool = false

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One run of a trial: a fold × seed that scores it, or a refit that trains on all pre-test rows
/// for its test score (migration 0006).
public struct RunRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "runs"
    public var id: Int64?
    public var trialId: Int64
    public var number: Int
    public var kind: RunPlan.Kind
    public var fold: Int?
    public var seedIndex: Int
    public var confirmation: Bool
    public var epochs: Int?
    public var state: RunState
    public var bestValMetric: Double?
    public var bestEpoch: Int?
    public var testMetric: Double?
    public var createdAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?

    public var plan: RunPlan { RunPlan(kind: kind, fold: fold, seedIndex: seedIndex, confirmation: confirmation, epochs: epochs) }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A state column's value, or a clear error for a value this version does not know.
private func decodeState<State: RawRepresentable<String>>(_ text: String, of record: String) throws -> State {
    guard let state = State(rawValue: text) else { throw StoreError.conflict("unknown \(record) state '\(text)' in the database") }
    return state
}

// The two records on the lease path read and write their columns directly (Codable through
// GRDB costs more than the SQL itself there).
extension TrialRecord {
    public init(row: Row) throws {
        id = row["id"]
        sweepId = row["sweep_id"]
        number = row["number"]
        configJson = row["config_json"]
        configHash = row["config_hash"]
        state = try decodeState(row["state"], of: "trial")
        bestValMetric = row["best_val_metric"]
        bestEpoch = row["best_epoch"]
        testMetric = row["test_metric"]
        createdAt = row["created_at"]
        startedAt = row["started_at"]
        finishedAt = row["finished_at"]
        valSd = row["val_sd"]
        valRuns = row["val_runs"]
        valCiLow = row["val_ci_low"]
        valCiHigh = row["val_ci_high"]
        confirmed = row["confirmed"] ?? false
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["sweep_id"] = sweepId
        container["number"] = number
        container["config_json"] = configJson
        container["config_hash"] = configHash
        container["state"] = state.rawValue
        container["best_val_metric"] = bestValMetric
        container["best_epoch"] = bestEpoch
        container["test_metric"] = testMetric
        container["created_at"] = createdAt
        container["started_at"] = startedAt
        container["finished_at"] = finishedAt
        container["val_sd"] = valSd
        container["val_runs"] = valRuns
        container["val_ci_low"] = valCiLow
        container["val_ci_high"] = valCiHigh
        container["confirmed"] = confirmed
    }
}

public struct AttemptRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "attempts"
    public var id: Int64?
    public var trialId: Int64
    public var number: Int
    public var workerId: String?
    public var leaseToken: String
    public var leaseDeadline: Double
    public var state: AttemptState
    public var error: String?
    public var startedAt: Double
    public var finishedAt: Double?
    /// The run this attempt trains (migration 0006).
    public var runId: Int64? = nil

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension AttemptRecord {
    public init(row: Row) throws {
        id = row["id"]
        trialId = row["trial_id"]
        number = row["number"]
        workerId = row["worker_id"]
        leaseToken = row["lease_token"]
        leaseDeadline = row["lease_deadline"]
        state = try decodeState(row["state"], of: "attempt")
        error = row["error"]
        startedAt = row["started_at"]
        finishedAt = row["finished_at"]
        runId = row["run_id"]
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["trial_id"] = trialId
        container["number"] = number
        container["worker_id"] = workerId
        container["lease_token"] = leaseToken
        container["lease_deadline"] = leaseDeadline
        container["state"] = state.rawValue
        container["error"] = error
        container["started_at"] = startedAt
        container["finished_at"] = finishedAt
        container["run_id"] = runId
    }
}

public struct EpochMetricRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "epoch_metrics"
    public var trialId: Int64
    public var attemptId: Int64
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    public var valMae: Double
    public var seconds: Double
    public var recordedAt: Double
}

public struct WorkerRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "workers"
    public var id: String
    public var host: String
    public var slots: Int
    public var version: String
    public var registeredAt: Double
    public var lastSeen: Double
    /// What the worker registered with (migration 0005; nil for workers registered before).
    public var engineVersion: String?
    public var checkpointFormat: String?
    public var cpuFeatures: String?
    /// It trains a lease's run (folds, refits) (migration 0006).
    public var trainsRuns: Bool = false
}

public struct EventRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "events"
    public var id: Int64?
    public var sweepId: Int64?
    public var trialId: Int64?
    public var attemptId: Int64?
    public var kind: String
    public var detailJson: String
    public var at: Double

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Per-epoch numbers a worker reports.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    public var valMAE: Double
    public var seconds: Double

    public init(epoch: Int, trainLoss: Double, valLoss: Double, valMAE: Double, seconds: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.valLoss = valLoss
        self.valMAE = valMAE
        self.seconds = seconds
    }
}
