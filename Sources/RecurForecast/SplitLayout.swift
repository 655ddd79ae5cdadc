import Foundation

/// Which rows train, validate and test one model.
///
/// - `task`: the task's own chronological split (`split: [train, validation, test]`).
/// - `fold(index, count)`: rolling-origin fold `index` of `count` (1-based). The test split is
///   the task's, untouched; the `count` validation windows are equal, contiguous and end where
///   the test split begins, and fold `k` trains on every row before its window (an expanding
///   window). A window is as long as the task's validation split unless `count` of them would
///   leave the first fold less than half the task's training rows; then they shrink equally so
///   that it has exactly that.
/// - `refit`: trains on every row before the test split (the task's train and validation rows
///   together), with no validation, and is scored on the test split.
public enum SplitLayout: Codable, Sendable, Hashable, CustomStringConvertible {
    case task
    case fold(index: Int, count: Int)
    case refit

    /// Row ranges of train, validation and test for a series of `rows` rows under `split`.
    public func rowRanges(rows n: Int, split: [Double]) -> [Range<Int>] {
        let trainEnd = Int(split[0] * Double(n))
        let valEnd = trainEnd + Int(split[1] * Double(n))
        switch self {
        case .task:
            return [0..<trainEnd, trainEnd..<valEnd, valEnd..<n]
        case .refit:
            return [0..<valEnd, valEnd..<valEnd, valEnd..<n]
        case .fold(let index, let count):
            let window = Self.foldWindow(trainRows: trainEnd, validationRows: valEnd - trainEnd, folds: count)
            let start = valEnd - (count - index + 1) * window
            return [0..<start, start..<(start + window), valEnd..<n]
        }
    }

    /// Rows per validation window when the pre-test part (`trainRows + validationRows`) holds
    /// `folds` windows: the validation split's length, or less so that the first fold keeps at
    /// least half the training rows.
    public static func foldWindow(trainRows: Int, validationRows: Int, folds: Int) -> Int {
        let available = trainRows + validationRows - trainRows / 2
        return min(validationRows, available / max(1, folds))
    }

    public var description: String {
        switch self {
        case .task: return "the task's split"
        case .fold(let index, let count): return "fold \(index) of \(count)"
        case .refit: return "the refit on all pre-test rows"
        }
    }
}
