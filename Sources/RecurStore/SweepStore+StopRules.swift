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
