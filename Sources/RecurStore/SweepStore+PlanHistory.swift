import Foundation
import GRDB
import RecurSweep

/// What `recur sweep plan --db` learns from a database's earlier sweeps on the same dataset file and
/// target: how much of their epochs early-stopped runs trained, what a run costs beyond its epochs,
/// and how long the epochs really took.
extension SweepStore {
    /// The share of their epochs that completed trials with early stopping actually trained, over
    /// every sweep in this database on the same dataset file and target (nil without any): how
    /// much `recur sweep plan` can expect early stopping to save on that task.
    public func earlyStoppingShare(dataset: String, sha256: String? = nil, target: String) throws -> (share: Double, trials: Int)? {
        let sweeps = try sweepsOnTask(dataset: dataset, sha256: sha256, target: target).filter {
            $0.definitionJson.spec.training.earlyStopping != nil
        }
        var (sum, n) = (0.0, 0)
        for sweep in sweeps {
            let epochs = Double(max(1, sweep.definitionJson.spec.training.epochs))
            let ran = try read { db in
                try Int.fetchAll(
                    db,
                    sql: """
                        SELECT MAX(m.epoch) FROM epoch_metrics m JOIN trials t ON t.id = m.trial_id JOIN attempts a ON a.id = m.attempt_id
                        WHERE t.sweep_id = ? AND t.state = 'completed' AND a.state = 'succeeded' GROUP BY m.attempt_id
                        """,
                    arguments: [sweep.id]
                )
            }
            for r in ran {
                sum += min(1, Double(r) / epochs)
                n += 1
            }
        }
        return n == 0 ? nil : (sum / Double(n), n)
    }

    /// What a run costs beyond its epochs (its start, the dataset's preparation, the test pass, the
    /// checkpoint and its upload, the completion): the median over the succeeded attempts that
    /// reported epochs, in every sweep of this database on the same dataset file and target, or
    /// only in those named `sweep` when there are any (nil without any). `recur sweep plan --db`
    /// adds it to every run it prices. A sweep's own runs come first because what a run prepares
    /// differs between sweeps (a target mode per trial prepares its own windows).
    public func runOverhead(dataset: String, sha256: String? = nil, target: String, sweep name: String? = nil) throws -> (seconds: Double, runs: Int)?
    {
        var overheads: [Double] = []
        let onTask = try sweepsOnTask(dataset: dataset, sha256: sha256, target: target)
        let same = onTask.filter { $0.name == name }
        for sweep in same.isEmpty ? onTask : same {
            overheads += try read { db in
                try Double.fetchAll(
                    db,
                    sql: """
                        SELECT (a.finished_at - a.started_at) - SUM(m.seconds) FROM attempts a
                        JOIN epoch_metrics m ON m.attempt_id = a.id JOIN trials t ON t.id = a.trial_id
                        WHERE t.sweep_id = ? AND a.state = 'succeeded' AND a.finished_at IS NOT NULL GROUP BY a.id
                        """,
                    arguments: [sweep.id]
                )
            }
        }
        guard !overheads.isEmpty else { return nil }
        return (max(0, median(ofSorted: overheads.sorted())), overheads.count)
    }

    /// The sweeps of this database on a dataset file (by name, wherever it was) and target.
    /// The sweeps on the same target of the same dataset: by content when both hashes are known
    /// (another file of the same name is another dataset), else by the file's name.
    private func sweepsOnTask(dataset: String, sha256: String?, target: String) throws -> [SweepRecord] {
        try sweeps().filter {
            let spec = $0.definitionJson.spec
            guard spec.task.target == target else { return false }
            if let sha256, let stored = $0.definitionJson.datasetSHA256 { return stored == sha256 }
            return URL(fileURLWithPath: spec.task.dataset).lastPathComponent == URL(fileURLWithPath: dataset).lastPathComponent
        }
    }

    /// One succeeded run's epochs as they really ran: its sweep's spec (whose task and evaluation
    /// give the run's windows), its configuration, which run it was, and its epochs' seconds.
    public struct EpochPace: Sendable {
        public var spec: SweepSpec
        public var config: TrialConfig
        public var plan: RunPlan
        public var epochs: Int
        public var seconds: Double
    }

    /// Every succeeded attempt that reported epochs, in the sweeps of this database on the same
    /// dataset file and target, with its epochs' count and summed seconds: `recur sweep plan --db`
    /// compares them with what its calibration prices for the same runs.
    public func epochPaces(dataset: String, sha256: String? = nil, target: String) throws -> [EpochPace] {
        var paces: [EpochPace] = []
        for sweep in try sweepsOnTask(dataset: dataset, sha256: sha256, target: target) {
            let rows = try read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT t.config_json, r.kind, r.fold, r.seed_index, r.confirmation, r.epochs AS planned,
                               COUNT(m.epoch) AS epochs, SUM(m.seconds) AS seconds
                        FROM attempts a JOIN runs r ON r.id = a.run_id JOIN trials t ON t.id = a.trial_id
                        JOIN epoch_metrics m ON m.attempt_id = a.id
                        WHERE t.sweep_id = ? AND a.state = 'succeeded' GROUP BY a.id ORDER BY a.id
                        """,
                    arguments: [sweep.id]
                )
            }
            for row in rows {
                guard let kind = RunPlan.Kind(rawValue: row["kind"]) else { continue }
                let config = try TrialConfig.decode(json: row["config_json"])
                let plan = RunPlan(
                    kind: kind,
                    fold: row["fold"],
                    seedIndex: row["seed_index"],
                    confirmation: row["confirmation"],
                    epochs: row["planned"]
                )
                paces.append(EpochPace(spec: sweep.definitionJson.spec, config: config, plan: plan, epochs: row["epochs"], seconds: row["seconds"]))
            }
        }
        return paces
    }
}
