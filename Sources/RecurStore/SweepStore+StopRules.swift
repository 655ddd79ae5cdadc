import Foundation
import GRDB
import RecurSweep

extension SweepStore {
    /// What a sweep's budgets and stop rules are checked against, read from the store so a
    /// restarted coordinator sees the same: wall time since the first lease, attempt time summed
    /// (running attempts up to `now`), the best completed trial, and trials finished after it.
    public func progressFacts(_ record: SweepRecord, now: Double) throws -> SweepProgressFacts {
        let minimize = record.definitionJson.spec.objective.minimize
        return try read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT MIN(a.started_at) AS first, SUM(MAX(0, IFNULL(a.finished_at, ?2) - a.started_at)) AS busy
                    FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = ?1
                    """,
                arguments: [record.id, now]
            )
            let best = try Row.fetchOne(
                db,
                sql: """
                    SELECT number, best_val_metric, finished_at FROM trials
                    WHERE sweep_id = ? AND state = 'completed' AND best_val_metric IS NOT NULL
                    ORDER BY best_val_metric \(minimize ? "ASC" : "DESC"), finished_at LIMIT 1
                    """,
                arguments: [record.id]
            )
            var since = 0
            if let best, let finished = best["finished_at"] as Double? {
                since =
                    try Int.fetchOne(
                        db,
                        sql: "SELECT COUNT(*) FROM trials WHERE sweep_id = ? AND state IN ('completed', 'pruned') AND finished_at > ?",
                        arguments: [record.id, finished]
                    ) ?? 0
            }
            let first = row?["first"] as Double?
            return SweepProgressFacts(
                wallSeconds: first.map { now - $0 },
                workerSeconds: row?["busy"] as Double? ?? 0,
                best: best.map { (value: $0["best_val_metric"], trial: $0["number"]) },
                finishedSinceBest: since
            )
        }
    }

    /// Records the rule that ends a sweep; `done` ends it now (`on_stop: release`, or nothing
    /// left running), else it stays `running` and leases nothing new until its trials finish.
    public func recordStop(_ id: Int64, _ reason: StopReason, done: Bool, now: Double) throws -> SweepRecord {
        try write { db in
            try db.execute(
                sql: """
                    UPDATE sweeps SET stop_rule = ?, stop_message = ?, state = CASE WHEN ? THEN 'done' ELSE state END, updated_at = ?
                    WHERE id = ? AND state = 'running'
                    """,
                arguments: [reason.rule.rawValue, reason.message, done, now, id]
            )
            guard let s = try SweepRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.sweep, "no sweep with id \(id)") }
            if db.changesCount == 1 {
                try SweepStore.event(db, "sweep_stopping", sweep: id, detail: ["rule": reason.rule.rawValue, "reason": reason.message], now: now)
                if done { try SweepStore.event(db, "sweep_done", sweep: id, now: now) }
            }
            return s
        }
    }

    /// Attempts of the sweep still running.
    public func runningAttempts(sweep id: Int64) throws -> Int {
        try read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = ? AND a.state = 'running'",
                arguments: [id]
            ) ?? 0
        }
    }

    /// The error of the trial's last attempt that has one (for a `failed` notification).
    public func lastError(trial id: Int64) throws -> String? {
        try read { db in
            try String.fetchOne(
                db,
                sql: "SELECT error FROM attempts WHERE trial_id = ? AND error IS NOT NULL ORDER BY id DESC LIMIT 1",
                arguments: [id]
            )
        }
    }
}

extension SweepStore {
    /// The share of their epochs that completed trials with early stopping actually trained, over
    /// every sweep in this database on the same dataset file and target (nil without any): how
    /// much `recur sweep plan` can expect early stopping to save on that task.
    public func earlyStoppingShare(dataset: String, target: String) throws -> (share: Double, trials: Int)? {
        let sweeps = try sweepsOnTask(dataset: dataset, target: target).filter { $0.definitionJson.spec.training.earlyStopping != nil }
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
    /// reported epochs, in every sweep of this database on the same dataset file and target (nil
    /// without any). `recur sweep plan --db` adds it to every run it prices.
    public func runOverhead(dataset: String, target: String) throws -> (seconds: Double, runs: Int)? {
        var overheads: [Double] = []
        for sweep in try sweepsOnTask(dataset: dataset, target: target) {
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
    private func sweepsOnTask(dataset: String, target: String) throws -> [SweepRecord] {
        try sweeps().filter {
            let spec = $0.definitionJson.spec
            return spec.task.target == target
                && URL(fileURLWithPath: spec.task.dataset).lastPathComponent == URL(fileURLWithPath: dataset).lastPathComponent
        }
    }
}
