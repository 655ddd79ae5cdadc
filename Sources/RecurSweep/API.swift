import Foundation
import RecurEngine
import RecurForecast

/// The coordinator's HTTP/JSON wire types (`/v1`, snake_case keys; see docs/openapi.yaml).
public enum API {
    public static let version = "v1"

    /// JSON coders used on both sides of the wire (keys are snake_case through each type's CodingKeys).
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static func decoder() -> JSONDecoder { JSONDecoder() }

    /// How to name a sweep's objective value to a reader: "val MAE" or "val loss".
    public static func objectiveLabel(_ objective: String) -> String { objective == "val_loss" ? "val loss" : "val MAE" }

    /// `name` percent-encoded for use as one path segment (sweep names in URLs).
    public static func pathComponent(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._"))) ?? name
    }

    public struct ErrorBody: Codable, Sendable { public var error: String; public init(error: String) { self.error = error } }

    // MARK: Workers

    public struct RegisterRequest: Codable, Sendable {
        public var host: String
        public var slots: Int
        public var version: String
        public init(host: String, slots: Int, version: String) { self.host = host; self.slots = slots; self.version = version }
    }

    public struct RegisterResponse: Codable, Sendable {

        public var workerId: String

        public var leaseSeconds: Double

        public init(workerId: String, leaseSeconds: Double) { self.workerId = workerId; self.leaseSeconds = leaseSeconds }

        enum CodingKeys: String, CodingKey { case workerId = "worker_id", leaseSeconds = "lease_seconds" }
    }

    public struct LeaseRequest: Codable, Sendable {
        public var workerId: String
        /// Only lease trials of this sweep.
        public var sweep: String?
        /// Long-poll for up to this many seconds (at most 30).
        public var waitSeconds: Double
        public init(workerId: String, sweep: String?, waitSeconds: Double) { self.workerId = workerId; self.sweep = sweep; self.waitSeconds = waitSeconds }
        enum CodingKeys: String, CodingKey { case workerId = "worker_id", sweep, waitSeconds = "wait_seconds" }
    }

    /// A leased trial: everything a worker needs to train it.
    public struct Lease: Codable, Sendable, Equatable {
        public var token: String
        /// Unix seconds; heartbeats and reports extend it.
        public var deadline: Double
        public var leaseSeconds: Double
        public var sweep: String
        public var trialId: Int64
        public var trialNumber: Int
        public var attempt: Int
        public var config: TrialConfig
        public var task: TaskSpec
        public var model: ModelSpec
        public var training: TrainingSettings
        /// `val_mae` or `val_loss`.
        public var objective: String
        public init(token: String, deadline: Double, leaseSeconds: Double, sweep: String, trialId: Int64, trialNumber: Int, attempt: Int, config: TrialConfig, task: TaskSpec, model: ModelSpec, training: TrainingSettings, objective: String) { self.token = token; self.deadline = deadline; self.leaseSeconds = leaseSeconds; self.sweep = sweep; self.trialId = trialId; self.trialNumber = trialNumber; self.attempt = attempt; self.config = config; self.task = task; self.model = model; self.training = training; self.objective = objective }
        enum CodingKeys: String, CodingKey { case token, deadline, leaseSeconds = "lease_seconds", sweep, trialId = "trial_id", trialNumber = "trial_number", attempt, config, task, model, training, objective }
    }

    public struct LeaseResponse: Codable, Sendable {
        /// `leased`, `no_work` (try again) or `done` (no sweep has work left).
        public var status: String
        public var lease: Lease?
        public init(status: String, lease: Lease?) { self.status = status; self.lease = lease }
    }

    public struct DeadlineResponse: Codable, Sendable {

        public var deadline: Double

        public init(deadline: Double) { self.deadline = deadline }

    }

    public struct EpochReport: Codable, Sendable, Equatable {
        public var epoch: Int
        public var trainLoss: Double
        public var valLoss: Double
        public var valMae: Double
        public var seconds: Double
        public init(epoch: Int, trainLoss: Double, valLoss: Double, valMae: Double, seconds: Double) {
            self.epoch = epoch; self.trainLoss = trainLoss; self.valLoss = valLoss; self.valMae = valMae; self.seconds = seconds
        }
        enum CodingKeys: String, CodingKey { case epoch, trainLoss = "train_loss", valLoss = "val_loss", valMae = "val_mae", seconds }
    }

    public struct ReportResponse: Codable, Sendable {
        /// `continue`, `prune` or `stop` (the sweep was paused or cancelled).
        public var action: String
        public var deadline: Double
        public var reason: String?
        public init(action: String, deadline: Double, reason: String?) { self.action = action; self.deadline = deadline; self.reason = reason }
    }

    /// The largest body `POST /v1/attempts/{token}/complete` accepts (the base64 checkpoint is
    /// most of it); every other route takes 8 MiB. A worker whose checkpoint would not fit
    /// completes the trial without it, so the metrics are never lost.
    public static let maximumCompleteBodyBytes = 256 * 1024 * 1024

    public struct CompleteRequest: Codable, Sendable {
        public var valMae: Double
        public var valLoss: Double
        public var testMae: Double
        public var bestEpoch: Int
        public var epochsRun: Int
        /// The restored-best checkpoint (safetensors), base64.
        public var checkpoint: String?
        public init(valMae: Double, valLoss: Double, testMae: Double, bestEpoch: Int, epochsRun: Int, checkpoint: String?) {
            self.valMae = valMae; self.valLoss = valLoss; self.testMae = testMae; self.bestEpoch = bestEpoch; self.epochsRun = epochsRun; self.checkpoint = checkpoint
        }
        enum CodingKeys: String, CodingKey { case valMae = "val_mae", valLoss = "val_loss", testMae = "test_mae", bestEpoch = "best_epoch", epochsRun = "epochs_run", checkpoint }
    }

    public struct FailRequest: Codable, Sendable {
        public var error: String
        public var retryable: Bool
        public init(error: String, retryable: Bool) { self.error = error; self.retryable = retryable }
    }

    public struct TrialStateResponse: Codable, Sendable {

        public var trialId: Int64

        public var state: String

        public init(trialId: Int64, state: String) { self.trialId = trialId; self.state = state }

        enum CodingKeys: String, CodingKey { case trialId = "trial_id", state }
    }

    // MARK: Admin

    public struct CreateSweepRequest: Codable, Sendable { public var yaml: String; public init(yaml: String) { self.yaml = yaml } }

    public struct ValidationResponse: Codable, Sendable {

        public var ok: Bool

        public var problems: [String]

        public init(ok: Bool, problems: [String]) { self.ok = ok; self.problems = problems }

    }

    public struct SweepSummary: Codable, Sendable {
        public var name: String
        public var state: String
        public var method: String
        public var maxTrials: Int
        public var trials: Int
        public var pending: Int
        public var running: Int
        public var completed: Int
        public var pruned: Int
        public var failed: Int
        /// The objective's value (val MAE, or val loss when `objective` is `val_loss`).
        public var bestValMae: Double?
        public var bestTrial: Int?
        public var createdAt: Double
        /// `val_mae` or `val_loss`: what `best_val_mae` and the leaderboard's `val_mae` hold.
        public var objective: String
        public init(name: String, state: String, method: String, maxTrials: Int, trials: Int, pending: Int, running: Int, completed: Int, pruned: Int, failed: Int, bestValMae: Double?, bestTrial: Int?, createdAt: Double, objective: String = "val_mae") { self.name = name; self.state = state; self.method = method; self.maxTrials = maxTrials; self.trials = trials; self.pending = pending; self.running = running; self.completed = completed; self.pruned = pruned; self.failed = failed; self.bestValMae = bestValMae; self.bestTrial = bestTrial; self.createdAt = createdAt; self.objective = objective }
        enum CodingKeys: String, CodingKey { case name, state, method, maxTrials = "max_trials", trials, pending, running, completed, pruned, failed, bestValMae = "best_val_mae", bestTrial = "best_trial", createdAt = "created_at", objective }
    }

    public struct LeaderboardRow: Codable, Sendable {
        public var rank: Int
        public var trial: Int
        public var trialId: Int64
        public var params: TrialConfig
        public var valMae: Double?
        public var testMae: Double?
        public var epochs: Int
        public var state: String
        public var pruned: Bool
        public var durationS: Double?
        public var worker: String?
        public init(rank: Int, trial: Int, trialId: Int64, params: TrialConfig, valMae: Double?, testMae: Double?, epochs: Int, state: String, pruned: Bool, durationS: Double?, worker: String?) { self.rank = rank; self.trial = trial; self.trialId = trialId; self.params = params; self.valMae = valMae; self.testMae = testMae; self.epochs = epochs; self.state = state; self.pruned = pruned; self.durationS = durationS; self.worker = worker }
        enum CodingKeys: String, CodingKey { case rank, trial, trialId = "trial_id", params, valMae = "val_mae", testMae = "test_mae", epochs, state, pruned, durationS = "duration_s", worker }
    }

    public struct AttemptInfo: Codable, Sendable {
        public var number: Int
        public var worker: String?
        public var state: String
        public var error: String?
        public var startedAt: Double
        public var finishedAt: Double?
        public init(number: Int, worker: String?, state: String, error: String?, startedAt: Double, finishedAt: Double?) { self.number = number; self.worker = worker; self.state = state; self.error = error; self.startedAt = startedAt; self.finishedAt = finishedAt }
        enum CodingKeys: String, CodingKey { case number, worker, state, error, startedAt = "started_at", finishedAt = "finished_at" }
    }

    public struct MetricRow: Codable, Sendable {
        public var attempt: Int
        public var epoch: Int
        public var trainLoss: Double
        public var valLoss: Double
        public var valMae: Double
        public var seconds: Double
        public init(attempt: Int, epoch: Int, trainLoss: Double, valLoss: Double, valMae: Double, seconds: Double) { self.attempt = attempt; self.epoch = epoch; self.trainLoss = trainLoss; self.valLoss = valLoss; self.valMae = valMae; self.seconds = seconds }
        enum CodingKeys: String, CodingKey { case attempt, epoch, trainLoss = "train_loss", valLoss = "val_loss", valMae = "val_mae", seconds }
    }

    public struct TrialDetail: Codable, Sendable {
        public var sweep: String
        public var trial: Int
        public var trialId: Int64
        public var state: String
        public var params: TrialConfig
        public var valMae: Double?
        public var testMae: Double?
        public var bestEpoch: Int?
        public var attempts: [AttemptInfo]
        public var metrics: [MetricRow]
        /// `val_mae` or `val_loss`: what `val_mae` holds.
        public var objective: String
        public init(sweep: String, trial: Int, trialId: Int64, state: String, params: TrialConfig, valMae: Double?, testMae: Double?, bestEpoch: Int?, attempts: [AttemptInfo], metrics: [MetricRow], objective: String = "val_mae") { self.sweep = sweep; self.trial = trial; self.trialId = trialId; self.state = state; self.params = params; self.valMae = valMae; self.testMae = testMae; self.bestEpoch = bestEpoch; self.attempts = attempts; self.metrics = metrics; self.objective = objective }
        enum CodingKeys: String, CodingKey { case sweep, trial, trialId = "trial_id", state, params, valMae = "val_mae", testMae = "test_mae", bestEpoch = "best_epoch", attempts, metrics, objective }
    }

    public struct WorkerInfo: Codable, Sendable {
        public var id: String
        public var host: String
        public var slots: Int
        public var version: String
        public var lastSeen: Double
        public var running: Int
        public init(id: String, host: String, slots: Int, version: String, lastSeen: Double, running: Int) { self.id = id; self.host = host; self.slots = slots; self.version = version; self.lastSeen = lastSeen; self.running = running }
        enum CodingKeys: String, CodingKey { case id, host, slots, version, lastSeen = "last_seen", running }
    }
}
