import Foundation
import RecurForecast

/// How each configuration is scored: over which folds, with how many seeds, how its test score
/// is made, and which configurations are confirmed with more seeds after the search.
///
/// ```yaml
/// evaluation:
///   folds: {method: rolling_origin, count: 3}   # or none (the task's own split)
///   seeds: 2
///   refit: true                                  # default: true with folds, false without
///   confirm: {top_k: 3, seeds: 2}
/// ```
/// A trial is one configuration; it consists of folds × seeds scoring **runs**, each leased on
/// its own. Without `evaluation:` a trial is one run on the task's split, as before runs existed.
extension SweepSpec {
    public struct Evaluation: Sendable, Equatable {
        public enum FoldMethod: String, Sendable, CaseIterable, Codable {
            case none
            case rollingOrigin = "rolling_origin"
        }
        public struct Confirm: Sendable, Equatable {
            /// The best configurations re-run after the search.
            public var topK: Int
            /// Seeds each of them gets on top of `seeds`.
            public var seeds: Int
            public init(topK: Int, seeds: Int) {
                self.topK = topK
                self.seeds = seeds
            }
        }
        public var foldMethod: FoldMethod = .none
        /// Rolling-origin folds (ignored with `none`).
        public var folds: Int = 1
        public var seeds: Int = 1
        /// Nil: refit exactly when there are folds.
        public var refit: Bool?
        public var confirm: Confirm?

        public init(foldMethod: FoldMethod = .none, folds: Int = 1, seeds: Int = 1, refit: Bool? = nil, confirm: Confirm? = nil) {
            self.foldMethod = foldMethod
            self.folds = folds
            self.seeds = seeds
            self.refit = refit
            self.confirm = confirm
        }

        /// Folds each seed is scored on: 1 without folds.
        public var foldCount: Int { foldMethod == .none ? 1 : folds }
        /// Whether the test score comes from refits on all pre-test rows (else from the last
        /// fold's models).
        public var refits: Bool { refit ?? (foldMethod == .rollingOrigin) }
        /// Scoring runs per trial during the search.
        public var runsPerTrial: Int { foldCount * seeds }

        /// The rows fold `fold` (1-based; nil without folds) trains and validates on.
        public func layout(fold: Int?) -> SplitLayout {
            guard let fold, foldMethod == .rollingOrigin else { return .task }
            return .fold(index: fold, count: folds)
        }

        /// The scoring runs of seeds `seeds`, seed-major (every fold of seed 0, then seed 1…), so
        /// the first runs of a trial cover the folds and pruning can stop it early.
        public func scoringRuns(seeds: Range<Int>, confirmation: Bool = false) -> [RunPlan] {
            seeds.flatMap { seed in
                (1...foldCount).map { fold in
                    RunPlan(kind: .scoring, fold: foldMethod == .none ? nil : fold, seedIndex: seed, confirmation: confirmation)
                }
            }
        }
    }
}

/// One run of a trial, before it exists in the store.
public struct RunPlan: Sendable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Trains on a fold (or the task's split) and is scored on its validation rows.
        case scoring
        /// Trains on all pre-test rows for a fixed number of epochs and is scored on test.
        case refit
    }
    public var kind: Kind
    /// 1-based rolling-origin fold; nil: the task's own split (or a refit).
    public var fold: Int?
    /// 0-based; seed index 0 trains with the trial's seed, as a trial did before runs existed.
    public var seedIndex: Int
    /// Added by top-K confirmation after the search.
    public var confirmation: Bool
    /// A refit's fixed epoch count (nil: the sweep's, with early stopping).
    public var epochs: Int?

    public init(kind: Kind, fold: Int?, seedIndex: Int, confirmation: Bool = false, epochs: Int? = nil) {
        self.kind = kind
        self.fold = fold
        self.seedIndex = seedIndex
        self.confirmation = confirmation
        self.epochs = epochs
    }
}

/// The median of values sorted ascending: the middle one, or the mean of the two in the middle.
/// Shared by the median pruner, the refits' epochs and `recur sweep plan`'s run overhead and pace.
public func median(ofSorted values: [Double]) -> Double {
    precondition(!values.isEmpty, "the median of no values")
    let m = values.count / 2
    return values.count % 2 == 1 ? values[m] : (values[m - 1] + values[m]) / 2
}

/// A 95 % confidence interval of a mean.
public struct ConfidenceInterval: Sendable, Equatable {
    public var low: Double
    public var high: Double
    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }
}

/// Mean, spread and a 95 % confidence interval of a trial's run scores.
public struct ScoreSummary: Sendable, Equatable {
    public var mean: Double
    /// Sample standard deviation (n − 1); nil for one value.
    public var sd: Double?
    public var n: Int
    /// Student's t interval for the mean; nil for one value. It treats runs as independent,
    /// which folds that share training rows are not: a guide to the noise, not a guarantee.
    public var ci95: ConfidenceInterval?

    public init?(_ values: [Double]) {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return nil }
        n = finite.count
        mean = finite.reduce(0, +) / Double(n)
        guard n > 1 else { return }
        let s = (finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot()
        sd = s
        let half = Self.t975(degreesOfFreedom: n - 1) * s / Double(n).squareRoot()
        ci95 = ConfidenceInterval(low: mean - half, high: mean + half)
    }

    /// The 97.5 % quantile of Student's t: tabulated to 30 degrees of freedom, then the
    /// Cornish–Fisher expansion (within 0.001 of the exact value beyond 30).
    public static func t975(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
            2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ]
        if df >= 1 && df <= table.count { return table[df - 1] }
        let z = 1.959964
        let d = Double(max(df, 1))
        return z + (z * z * z + z) / (4 * d) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d)
    }
}

extension RunPlan {
    /// A refit's epoch count: the median of the trial's best epochs over its scoring runs,
    /// rounded half up (at least 1).
    public static func refitEpochs(bestEpochs: [Int]) -> Int {
        guard !bestEpochs.isEmpty else { return 1 }
        let middle = median(ofSorted: bestEpochs.sorted().map(Double.init))
        return max(1, Int(middle.rounded(.toNearestOrAwayFromZero)))
    }
}
