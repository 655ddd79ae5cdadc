import Foundation
import GRDB
import RecurSweep

/// Data for the dashboard pages, aggregated in SQL so pages stay fast at 10,000 trials.
extension SweepStore {
    public struct TrialPoint: Sendable {
        public var trialId: Int64
        public var number: Int
        public var state: String
        public var params: TrialConfig
        public var valMae: Double?
        public var testMae: Double?
    }

    /// Trials with a validation metric (completed and pruned), best first, at most `limit`.
    public func trialPoints(sweep name: String, limit: Int) throws -> [TrialPoint] {
        let record = try sweep(named: name)
        return try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, number, state, config_json, best_val_metric, test_metric FROM trials
                    WHERE sweep_id = ? AND best_val_metric IS NOT NULL AND state IN ('completed', 'pruned')
                    ORDER BY best_val_metric LIMIT ?
                    """,
                arguments: [record.id, limit]
            ).map {
                TrialPoint(
                    trialId: $0["id"],
                    number: $0["number"],
                    state: $0["state"],
                    params: (try? TrialConfig.decode(json: $0["config_json"])) ?? TrialConfig([:]),
                    valMae: $0["best_val_metric"],
                    testMae: $0["test_metric"]
                )
            }
        }
    }

    /// Per-epoch val MAE of the final attempt of each trial in `trials`.
    public func curves(trials: [Int64]) throws -> [Int64: [Double]] {
        guard !trials.isEmpty else { return [:] }
        return try writer.read { db in
            // Each run's last attempt, epoch by epoch; a trial of several runs is their mean at
            // every epoch some run reached (one run: its own curve).
            var sums: [Int64: [(sum: Double, n: Int)]] = [:]
            let list = trials.map(String.init).joined(separator: ",")
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT m.trial_id, m.epoch, m.val_mae FROM epoch_metrics m JOIN attempts a ON a.id = m.attempt_id
                    WHERE m.trial_id IN (\(list)) AND m.attempt_id = (SELECT MAX(a2.id) FROM attempts a2 WHERE a2.run_id IS a.run_id AND a2.trial_id = m.trial_id)
                    ORDER BY m.trial_id, m.epoch
                    """
            ) {
                let trial: Int64 = row["trial_id"]
                let epoch: Int = row["epoch"]
                let value: Double = row["val_mae"]
                var list = sums[trial, default: []]
                while list.count < epoch { list.append((0, 0)) }
                list[epoch - 1].sum += value
                list[epoch - 1].n += 1
                sums[trial] = list
            }
            return sums.mapValues { $0.map { $0.n > 0 ? $0.sum / Double($0.n) : .nan } }
        }
    }
}
