import Foundation

/// A pruning decision and the numbers behind it (recorded in the sweep's event log).
public struct PruneDecision: Sendable, Equatable, Codable {
    public var prune: Bool
    /// The rule that decided.
    public var rule: SweepSpec.Pruning.Method
    public var reason: String
    public var numbers: [String: Double]
}

/// Decides after each reported epoch whether a trial goes on. Values are objectives in the
/// sweep's direction; the pruner keeps its own incremental record of what every trial reported.
public protocol Pruner: AnyObject {
    /// Records trial `trial`'s value at `epoch` (1-based) and decides whether it stops.
    func report(trial: Int, epoch: Int, value: Double) -> PruneDecision
    /// Trial `trial` finished all its epochs (completed, not pruned or failed).
    func complete(trial: Int)
    /// Trial `trial` goes back to pending for a new attempt: what its lost attempt reported is
    /// forgotten, so the retry is judged on its own epochs only.
    func restart(trial: Int)
}

extension Pruner {
    public func complete(trial: Int) {}
    public func restart(trial: Int) {}
}

extension SweepSpec {
    public func makePruner() -> Pruner {
        switch pruning.method {
        case .none: return NoPruner()
        case .median: return MedianPruner(warmup: pruning.warmup, minTrials: pruning.minTrials, minimize: objective.minimize)
        case .asha:
            return ASHAPruner(
                minEpochs: pruning.minEpochs,
                reductionFactor: pruning.reductionFactor,
                maxEpochs: training.epochs,
                minimize: objective.minimize
            )
        }
    }
}

public final class NoPruner: Pruner {
    public init() {}
    public func report(trial: Int, epoch: Int, value: Double) -> PruneDecision {
        PruneDecision(prune: false, rule: .none, reason: "pruning is off", numbers: [:])
    }
}

/// Keeps each trial's best value so far (in minimisation terms).
struct CurveBook {
    let minimize: Bool
    private(set) var best: [Int: Double] = [:]

    init(minimize: Bool) { self.minimize = minimize }

    /// The trial's best so far after this report, as a "smaller is better" number.
    mutating func record(trial: Int, value: Double) -> Double {
        let signed = minimize ? value : -value
        let b = min(best[trial] ?? .infinity, signed.isFinite ? signed : .infinity)
        best[trial] = b
        return b
    }

    func display(_ signed: Double) -> Double { minimize ? signed : -signed }

    mutating func forget(trial: Int) { best[trial] = nil }
}

/// Stops a trial at epoch `e > warmup` when its best value so far is worse than the median of
/// the values that completed trials reported at epoch `e`, once at least `minTrials` completed
/// trials have. As Optuna's `MedianPruner` (and Katib's median stop), running and pruned trials
/// do not count, so the first wave of a parallel sweep cannot prune itself.
public final class MedianPruner: Pruner {
    private var book: CurveBook
    var minimize: Bool { book.minimize }
    let warmup: Int
    let minTrials: Int
    /// Every trial's signed value per epoch, kept until the trial completes or is dropped.
    private var curves: [Int: [Int: Double]] = [:]
    /// Per epoch: the signed values completed trials reported there, sorted.
    private var atEpoch: [Int: [Double]] = [:]
    private var completed: Set<Int> = []

    public init(warmup: Int, minTrials: Int, minimize: Bool) {
        self.warmup = warmup
        self.minTrials = minTrials
        book = CurveBook(minimize: minimize)
    }

    public func complete(trial: Int) {
        guard completed.insert(trial).inserted else { return }
        for (epoch, value) in curves.removeValue(forKey: trial) ?? [:] {
            var list = atEpoch[epoch] ?? []
            list.insert(value, at: list.firstIndex { $0 > value } ?? list.count)
            atEpoch[epoch] = list
        }
    }

    public func restart(trial: Int) {
        guard !completed.contains(trial) else { return }
        book.forget(trial: trial)
        curves[trial] = nil
    }

    public func report(trial: Int, epoch: Int, value: Double) -> PruneDecision {
        let best = book.record(trial: trial, value: value)
        let signed = minimize ? value : -value
        if !completed.contains(trial) { curves[trial, default: [:]][epoch] = signed.isFinite ? signed : .infinity }
        let others = atEpoch[epoch] ?? []
        guard epoch > warmup else {
            return PruneDecision(
                prune: false,
                rule: .median,
                reason: "epoch \(epoch) is within the warm-up of \(warmup)",
                numbers: ["epoch": Double(epoch)]
            )
        }
        guard others.count >= minTrials else {
            return PruneDecision(
                prune: false,
                rule: .median,
                reason: "\(others.count) completed trials reported epoch \(epoch); \(minTrials) needed",
                numbers: ["epoch": Double(epoch), "others": Double(others.count)]
            )
        }
        let n = others.count
        let middle = median(ofSorted: others)
        let prune = best > middle
        return PruneDecision(
            prune: prune,
            rule: .median,
            reason: prune
                ? "best \(fmt(book.display(best))) is worse than the median \(fmt(book.display(middle))) of \(n) completed trials at epoch \(epoch)"
                : "best \(fmt(book.display(best))) is no worse than the median \(fmt(book.display(middle))) of \(n) completed trials at epoch \(epoch)",
            numbers: ["epoch": Double(epoch), "best": book.display(best), "median": book.display(middle), "others": Double(n)]
        )
    }
}

/// Asynchronous successive halving [1]: rungs at `minEpochs·η^k` epochs; at a rung a trial goes on
/// only if its best value so far is in the top `1/η` of the values recorded at that rung so far
/// (itself included; with fewer than η values, only the best goes on — Optuna's rule, since a
/// trial cannot wait).
///
/// [1] Li et al., A System for Massively Parallel Hyperparameter Tuning, MLSys 2020.
public final class ASHAPruner: Pruner {
    private var book: CurveBook
    var minimize: Bool { book.minimize }
    let minEpochs: Int
    let reductionFactor: Int
    let maxEpochs: Int
    private var rungs: [Int: [Double]] = [:]
    /// The value each `[trial, rung]` entered its rung with.
    private var recorded: [[Int]: Double] = [:]

    public init(minEpochs: Int, reductionFactor: Int, maxEpochs: Int, minimize: Bool) {
        self.minEpochs = minEpochs
        self.reductionFactor = reductionFactor
        self.maxEpochs = maxEpochs
        book = CurveBook(minimize: minimize)
    }

    /// The rung index whose epoch is `epoch`, if any.
    func rung(at epoch: Int) -> Int? {
        var r = minEpochs
        var k = 0
        while r < maxEpochs {
            if r == epoch { return k }
            let (next, overflow) = r.multipliedReportingOverflow(by: reductionFactor)
            if overflow { return nil }
            r = next
            k += 1
        }
        return nil
    }

    public func restart(trial: Int) {
        book.forget(trial: trial)
        for (key, value) in recorded where key[0] == trial {
            recorded[key] = nil
            if let i = rungs[key[1]]?.firstIndex(of: value) { rungs[key[1]]!.remove(at: i) }
        }
    }

    public func report(trial: Int, epoch: Int, value: Double) -> PruneDecision {
        let best = book.record(trial: trial, value: value)
        guard let k = rung(at: epoch) else {
            return PruneDecision(prune: false, rule: .asha, reason: "epoch \(epoch) is not a rung", numbers: ["epoch": Double(epoch)])
        }
        var values = rungs[k] ?? []
        if recorded[[trial, k]] == nil {
            recorded[[trial, k]] = best
            values.insert(best, at: values.firstIndex { $0 > best } ?? values.count)
            rungs[k] = values
        }
        let promotable = max(0, values.count / reductionFactor - 1)
        let threshold = values[promotable]
        let prune = best > threshold
        return PruneDecision(
            prune: prune,
            rule: .asha,
            reason: prune
                ? "best \(fmt(book.display(best))) is outside the top 1/\(reductionFactor) of \(values.count) trials at rung \(k) (epoch \(epoch)); threshold \(fmt(book.display(threshold)))"
                : "best \(fmt(book.display(best))) is within the top 1/\(reductionFactor) of \(values.count) trials at rung \(k) (epoch \(epoch))",
            numbers: [
                "epoch": Double(epoch), "rung": Double(k), "best": book.display(best), "threshold": book.display(threshold),
                "trials": Double(values.count),
            ]
        )
    }
}

private func fmt(_ x: Double) -> String { String(format: "%.4g", x) }
