/// Errors in datasets, task specs and training, each a one-line message naming the field, row or
/// column at fault and, where possible, the fix.
public struct ForecastError: Error, CustomStringConvertible, Equatable, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
