/// Errors in datasets, task specs and training, each a one-line message naming the field, row or
/// column at fault and, where possible, the fix.
public struct ForecastError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The loss became NaN or infinite. Retrying the same configuration cannot help, so the worker
/// reports the attempt as not retryable (`kind: diverged`) by this type, not by its text.
public struct TrainingDiverged: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
