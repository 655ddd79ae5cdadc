import Foundation
import RecurEngine
import RecurSweep

/// The contract's names for the types generated from docs/openapi.yaml, and the few rules of the
/// wire that are not types (limits, JSON coders, path escaping).
public enum API {
    public static let version = "v1"

    /// Request bodies are capped; larger ones get 413 `body_too_large`.
    public static let maximumBodyBytes = 8 * 1024 * 1024
    /// The largest checkpoint upload (`recur serve --max-checkpoint-bytes` may lower it). A worker
    /// whose checkpoint is refused completes the trial without it, so the metrics are never lost.
    public static let maximumCheckpointBytes = 256 * 1024 * 1024
    /// The largest dataset upload (`recur serve --max-dataset-bytes` may change it).
    public static let maximumDatasetBytes: Int64 = 1 << 30

    /// JSON coders for what is not sent through the generated client (CLI output, tests).
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static func decoder() -> JSONDecoder { JSONDecoder() }

    /// `name` percent-encoded for use as one path segment (sweep names in dashboard links).
    public static func pathComponent(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._"))) ?? name
    }

    public typealias ErrorBody = Components.Schemas._Error
    public typealias ErrorCode = Components.Schemas.ErrorCode
    public typealias Objective = Components.Schemas.Objective
    public typealias RegisterRequest = Components.Schemas.RegisterRequest
    public typealias RegisterResponse = Components.Schemas.RegisterResponse
    public typealias WorkerInfo = Components.Schemas.WorkerInfo
    public typealias LeaseRequest = Components.Schemas.LeaseRequest
    public typealias Lease = Components.Schemas.Lease
    public typealias LeaseStatus = Components.Schemas.LeaseStatus
    public typealias LeaseResponse = Components.Schemas.LeaseResponse
    public typealias IncompatibleSweep = Components.Schemas.IncompatibleSweep
    public typealias DatasetStored = Components.Schemas.DatasetStored
    public typealias DeadlineResponse = Components.Schemas.DeadlineResponse
    public typealias EpochReport = Components.Schemas.EpochReport
    public typealias ReportAction = Components.Schemas.ReportAction
    public typealias ReportResponse = Components.Schemas.ReportResponse
    public typealias CompleteRequest = Components.Schemas.CompleteRequest
    public typealias FailRequest = Components.Schemas.FailRequest
    public typealias FailureKind = Components.Schemas.FailRequest.KindPayload
    public typealias TrialStateResponse = Components.Schemas.TrialStateResponse
    public typealias SweepDefinition = Components.Schemas.SweepDefinition
    public typealias ValidationResponse = Components.Schemas.ValidationResponse
    public typealias SweepSummary = Components.Schemas.SweepSummary
    public typealias StopReason = Components.Schemas.StopReason
    public typealias EnqueueRequest = Components.Schemas.EnqueueRequest
    public typealias EnqueueResponse = Components.Schemas.EnqueueResponse
    public typealias SweepState = Components.Schemas.SweepState
    public typealias TrialState = Components.Schemas.TrialState
    public typealias AttemptState = Components.Schemas.AttemptState
    public typealias LeaderboardRow = Components.Schemas.LeaderboardRow
    public typealias AttemptInfo = Components.Schemas.AttemptInfo
    public typealias MetricRow = Components.Schemas.MetricRow
    public typealias RunInfo = Components.Schemas.RunInfo
    public typealias RunKind = Components.Schemas.RunKind
    public typealias RunDetail = Components.Schemas.RunDetail
    public typealias TrialDetail = Components.Schemas.TrialDetail
}

extension Components.Schemas.Objective {
    /// How to name the objective to a reader: "val MAE" or "val loss".
    public var label: String { self == .valLoss ? "val loss" : "val MAE" }

    public init(_ metric: SweepSpec.Objective.Metric) {
        switch metric {
        case .valMAE: self = .valMae
        case .valLoss: self = .valLoss
        }
    }
}

/// The size of `sockaddr_un.sun_path`: a Unix socket path must be shorter, for its terminating NUL.
#if os(macOS)
public let unixSocketPathLimit = 104
#else
public let unixSocketPathLimit = 108
#endif
