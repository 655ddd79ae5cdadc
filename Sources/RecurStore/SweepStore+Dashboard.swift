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
            var out: [Int64: [Double]] = [:]
            let list = trials.map(String.init).joined(separator: ",")
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT m.trial_id, m.epoch, m.val_mae FROM epoch_metrics m
                    WHERE m.trial_id IN (\(list)) AND m.attempt_id = (SELECT MAX(a.id) FROM attempts a WHERE a.trial_id = m.trial_id)
                    ORDER BY m.trial_id, m.epoch
                    """
            ) {
                out[row["trial_id"], default: []].append(row["val_mae"])
            }
            return out
        }
    }
}
