import Foundation
import RecurEngine
import RecurForecast

/// The coordinator's HTTP/JSON wire types (`/v1`, snake_case keys; see docs/openapi.yaml).
public enum API {
    public static let version = "v1"

    /// JSON coders with snake_case keys, used on both sides of the wire.
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// Keys inside embedded domain objects (task, model, training, params) are already the domain's
    /// own snake_case names and are left alone; the API's own keys are converted.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        let embedded: Set<String> = ["task", "model", "training", "config", "params"]
        d.keyDecodingStrategy = .custom { path in
            let key = path.last!
            if path.dropLast().contains(where: { embedded.contains($0.stringValue) }) { return key }
            let parts = key.stringValue.split(separator: "_")
            let camel = parts.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.prefix(1).uppercased() + $0.element.dropFirst() }.joined()
            return AnyAPIKey(camel)
        }
        return d
    }

    struct AnyAPIKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
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

    }

    public struct LeaseRequest: Codable, Sendable {
        public var workerId: String
        /// Only lease trials of this sweep.
        public var sweep: String?
        /// Long-poll for up to this many seconds (at most 30).
        public var waitSeconds: Double
        public init(workerId: String, sweep: String?, waitSeconds: Double) { self.workerId = workerId; self.sweep = sweep; self.waitSeconds = waitSeconds }
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
    }

    public struct ReportResponse: Codable, Sendable {
        /// `continue`, `prune` or `stop` (the sweep was paused or cancelled).
        public var action: String
        public var deadline: Double
        public var reason: String?
        public init(action: String, deadline: Double, reason: String?) { self.action = action; self.deadline = deadline; self.reason = reason }
    }

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
        public var bestValMae: Double?
        public var bestTrial: Int?
        public var createdAt: Double
        public init(name: String, state: String, method: String, maxTrials: Int, trials: Int, pending: Int, running: Int, completed: Int, pruned: Int, failed: Int, bestValMae: Double?, bestTrial: Int?, createdAt: Double) { self.name = name; self.state = state; self.method = method; self.maxTrials = maxTrials; self.trials = trials; self.pending = pending; self.running = running; self.completed = completed; self.pruned = pruned; self.failed = failed; self.bestValMae = bestValMae; self.bestTrial = bestTrial; self.createdAt = createdAt }
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
    }

    public struct AttemptInfo: Codable, Sendable {
        public var number: Int
        public var worker: String?
        public var state: String
        public var error: String?
        public var startedAt: Double
        public var finishedAt: Double?
        public init(number: Int, worker: String?, state: String, error: String?, startedAt: Double, finishedAt: Double?) { self.number = number; self.worker = worker; self.state = state; self.error = error; self.startedAt = startedAt; self.finishedAt = finishedAt }
    }

    public struct MetricRow: Codable, Sendable {
        public var attempt: Int
        public var epoch: Int
        public var trainLoss: Double
        public var valLoss: Double
        public var valMae: Double
        public var seconds: Double
        public init(attempt: Int, epoch: Int, trainLoss: Double, valLoss: Double, valMae: Double, seconds: Double) { self.attempt = attempt; self.epoch = epoch; self.trainLoss = trainLoss; self.valLoss = valLoss; self.valMae = valMae; self.seconds = seconds }
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
        public init(sweep: String, trial: Int, trialId: Int64, state: String, params: TrialConfig, valMae: Double?, testMae: Double?, bestEpoch: Int?, attempts: [AttemptInfo], metrics: [MetricRow]) { self.sweep = sweep; self.trial = trial; self.trialId = trialId; self.state = state; self.params = params; self.valMae = valMae; self.testMae = testMae; self.bestEpoch = bestEpoch; self.attempts = attempts; self.metrics = metrics }
    }

    public struct WorkerInfo: Codable, Sendable {
        public var id: String
        public var host: String
        public var slots: Int
        public var version: String
        public var lastSeen: Double
        public var running: Int
        public init(id: String, host: String, slots: Int, version: String, lastSeen: Double, running: Int) { self.id = id; self.host = host; self.slots = slots; self.version = version; self.lastSeen = lastSeen; self.running = running }
    }
}
