import Foundation
import GRDB
import RecurSweep

/// Read-side queries for the CLI (also straight from a database file) and the admin API.
extension SweepStore {
    public func summaries() throws -> [SweepSummary] {
        try sweeps().map { try summary(of: $0) }
    }

    public func summary(named name: String) throws -> SweepSummary {
        try summary(of: sweep(named: name))
    }

    public func summary(of record: SweepRecord, now: Double = Date().timeIntervalSince1970) throws -> SweepSummary {
        let counts = try counts(sweep: record.id!)
        let spec = record.definitionJson.spec
        let minimize = spec.objective.minimize
        let best = try read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT number, best_val_metric FROM trials WHERE sweep_id = ? AND state = 'completed' AND best_val_metric IS NOT NULL
                    ORDER BY confirmed DESC, best_val_metric \(minimize ? "ASC" : "DESC") LIMIT 1
                    """,
                arguments: [record.id]
            )
        }
        let finished = (counts[.completed] ?? 0) + (counts[.pruned] ?? 0) + (counts[.failed] ?? 0)
        let pace = try self.pace(record, finished: finished, now: now)
        return SweepSummary(
            // A sweep done before max_trials ran out of configs: its total is what it ran.
            name: record.name,
            state: record.state,
            method: spec.search.method,
            maxTrials: record.state == .done ? counts.values.reduce(0, +) : spec.search.maxTrials,
            trials: counts.values.reduce(0, +),
            pending: counts[.pending] ?? 0,
            running: counts[.running] ?? 0,
            completed: counts[.completed] ?? 0,
            pruned: counts[.pruned] ?? 0,
            failed: counts[.failed] ?? 0,
            bestValue: best?["best_val_metric"],
            bestTrial: best?["number"],
            createdAt: record.createdAt,
            objective: Self.objective(record),
            engineVersion: record.definitionJson.engineVersion,
            datasetSHA256: record.definitionJson.datasetSHA256,
            persistence: record.definitionJson.baselines?.persistence,
            bestValSkill: Self.valSkill(best?["best_val_metric"], record),
            trialsDone: pace.done,
            etaSeconds: pace.endsAt.map { max(0, $0 - now) },
            endsAt: pace.endsAt,
            stopReason: record.stopReason
        )
    }

    /// Work done in trials (running trials count their reported epochs' share), and when the
    /// sweep should end at its pace from its first lease to its last report or finish. Counting
    /// running trials keeps the ETA from climbing while the first trials run; pacing to the last
    /// activity, not to now, keeps it (and the dashboard's ETag) still between reports.
    func pace(_ record: SweepRecord, finished: Int, now: Double) throws -> (done: Double, endsAt: Double?) {
        let spec = record.definitionJson.spec
        let row = try read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT (SELECT MIN(a.started_at) FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = ?1) AS first,
                           MAX(IFNULL((SELECT MAX(m.recorded_at) FROM epoch_metrics m JOIN trials t ON t.id = m.trial_id WHERE t.sweep_id = ?1), 0),
                               IFNULL((SELECT MAX(finished_at) FROM trials WHERE sweep_id = ?1), 0)) AS last,
                           (SELECT COUNT(*) FROM epoch_metrics m JOIN attempts a ON a.id = m.attempt_id JOIN trials t ON t.id = a.trial_id
                             WHERE t.sweep_id = ?1 AND t.state = 'running' AND a.state IN ('running', 'succeeded')) AS epochs,
                           (SELECT COUNT(*) FROM trials WHERE sweep_id = ?1 AND state = 'running') AS running
                    """,
                arguments: [record.id]
            )
        }
        let perTrial = Double(max(1, spec.training.epochs * spec.evaluation.runsPerTrial))
        let running = min(Double(row?["epochs"] as Int? ?? 0) / perTrial, Double(row?["running"] as Int? ?? 0))
        let done = Double(finished) + running
        guard record.state == .running, let first = row?["first"] as Double?, let last = row?["last"] as Double?, done > 0, last > first else {
            return (done, nil)
        }
        let left = max(0, Double(spec.search.maxTrials) - done)
        return (done, last + left / (done / (last - first)))
    }

    /// Trials ranked by their score (completed first — confirmed ones first among them — then
    /// pruned, running, failed, pending); one row per trial, with its final scoring attempt.
    public func leaderboard(sweep name: String, top: Int? = nil) throws -> [LeaderboardRow] {
        let record = try sweep(named: name)
        let minimize = Self.minimizes(record)
        let order = """
            CASE t.state WHEN 'completed' THEN 0 WHEN 'pruned' THEN 1 WHEN 'running' THEN 2 WHEN 'failed' THEN 3 ELSE 4 END,
            t.confirmed DESC, t.best_val_metric IS NULL, t.best_val_metric \(minimize ? "ASC" : "DESC"), t.number
            """
        return try leaderboardRows(sweep: record, order: order, limit: top ?? -1, offset: 0)
    }

    /// Skill over persistence: 1 − MAE ÷ persistence's MAE; nil without a baseline (or a zero one).
    static func skill(_ mae: Double?, over persistence: Double?) -> Double? {
        guard let mae, let persistence, persistence > 0 else { return nil }
        return 1 - mae / persistence
    }

    /// Validation skill of an objective value: only a val MAE compares with persistence's MAE.
    static func valSkill(_ value: Double?, _ record: SweepRecord) -> Double? {
        guard objective(record) == .valMAE else { return nil }
        return skill(value, over: record.definitionJson.baselines?.persistence.valMAE)
    }

    /// How many trials of the sweep have a best value at or below `value`: where a reference with
    /// that value ranks in the leaderboard sorted by value.
    public func trialCount(sweep name: String, valueAtMost value: Double) throws -> Int {
        let record = try sweep(named: name)
        return try read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM trials WHERE sweep_id = ? AND best_val_metric IS NOT NULL AND best_val_metric <= ?",
                arguments: [record.id, value]
            ) ?? 0
        }
    }

    /// The columns a leaderboard page can be sorted by.
    public enum SortColumn: String, Sendable, CaseIterable {
        case valMAE = "val_mae"
        case testMAE = "test_mae"
        case trial, state, epochs
    }

    /// One page of trials sorted by `column`.
    public func leaderboardPage(sweep name: String, sort column: SortColumn, descending: Bool, offset: Int, limit: Int) throws -> [LeaderboardRow] {
        let record = try sweep(named: name)
        let key: String
        switch column {
        case .testMAE: key = "t.test_metric IS NULL, t.test_metric"
        case .trial: key = "t.number"
        case .state: key = "t.state"
        case .epochs: key = "epochs"
        case .valMAE: key = "t.best_val_metric IS NULL, t.best_val_metric"
        }
        return try leaderboardRows(sweep: record, order: "\(key)\(descending ? " DESC" : ""), t.number", limit: limit, offset: offset)
    }

    /// The objective's metric, from the stored definition.
    static func objective(_ record: SweepRecord) -> SweepSpec.Objective.Metric { record.definitionJson.spec.objective.metric }

    static func minimizes(_ record: SweepRecord) -> Bool { record.definitionJson.spec.objective.minimize }

    /// Leaderboard rows in `order` (an SQL ORDER BY list over `t` = trials); `limit` −1 for all.
    private func leaderboardRows(sweep record: SweepRecord, order: String, limit: Int, offset: Int) throws -> [LeaderboardRow] {
        let id = record.id!
        let persistence = record.definitionJson.baselines?.persistence
        let rows = try writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT t.id, t.number, t.config_json, t.state, t.best_val_metric, t.test_metric, t.started_at, t.finished_at,
                           t.val_sd, t.val_runs, t.val_ci_low, t.val_ci_high, t.confirmed,
                           (SELECT COUNT(*) FROM epoch_metrics m WHERE m.trial_id = t.id AND m.attempt_id = a.id) AS epochs, a.worker_id
                    FROM trials t
                    LEFT JOIN attempts a ON a.trial_id = t.id AND a.number = (
                        SELECT MAX(a2.number) FROM attempts a2 JOIN runs r ON r.id = a2.run_id WHERE a2.trial_id = t.id AND r.kind = 'scoring')
                    WHERE t.sweep_id = ?
                    ORDER BY \(order) LIMIT ? OFFSET ?
                    """,
                arguments: [id, limit, offset]
            )
        }
        return rows.enumerated().map { i, row in
            let started: Double? = row["started_at"]
            let finished: Double? = row["finished_at"]
            let state = TrialState(rawValue: row["state"]) ?? .pending
            let low: Double? = row["val_ci_low"]
            let high: Double? = row["val_ci_high"]
            return LeaderboardRow(
                rank: offset + i + 1,
                trial: row["number"],
                trialId: row["id"],
                params: (try? TrialConfig.decode(json: row["config_json"])) ?? TrialConfig([:]),
                value: row["best_val_metric"],
                testMAE: row["test_metric"],
                epochs: row["epochs"],
                state: state,
                durationSeconds: started.flatMap { s in finished.map { $0 - s } },
                worker: row["worker_id"],
                valSkill: Self.valSkill(row["best_val_metric"], record),
                testSkill: Self.skill(row["test_metric"], over: persistence?.testMAE),
                valSd: row["val_sd"],
                valCI95: low.flatMap { l in high.map { ConfidenceInterval(low: l, high: $0) } },
                runs: row["val_runs"] ?? 0,
                confirmed: row["confirmed"] ?? false
            )
        }
    }

    /// A trial with its attempts and metrics, read in one snapshot (a new attempt's first report
    /// cannot appear without its attempt).
    public func trialDetail(id: Int64) throws -> TrialDetail {
        let (trial, sweep, attempts, metrics, registrations, runs, pruneEvents) = try read { db in
            guard let trial = try TrialRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.trial, "no trial with id \(id)") }
            guard let sweep = try SweepRecord.fetchOne(db, key: trial.sweepId) else {
                throw StoreError.notFound(.sweep, "no sweep with id \(trial.sweepId)")
            }
            let attempts = try AttemptRecord.filter(Column("trial_id") == id).order(Column("number")).fetchAll(db)
            let runs = try RunRecord.filter(Column("trial_id") == id).order(Column("number")).fetchAll(db)
            let metrics = try EpochMetricRecord.filter(Column("trial_id") == id).order(Column("attempt_id"), Column("epoch")).fetchAll(db)
            let ids = Set(attempts.compactMap(\.workerId))
            let registrations = Dictionary(uniqueKeysWithValues: try WorkerRecord.fetchAll(db, keys: ids).map { ($0.id, $0) })
            let pruneEvents = try EventRecord.filter(Column("trial_id") == id && Column("kind") == "pruned").fetchAll(db)
            return (trial, sweep, attempts, metrics, registrations, runs, pruneEvents)
        }
        // The reason is kept in the event's detail (`recur run` and the dashboard read the same).
        var pruneReasons: [Int64: String] = [:]
        for event in pruneEvents {
            guard let attempt = event.attemptId,
                let detail = try? JSONSerialization.jsonObject(with: Data(event.detailJson.utf8)) as? [String: Any],
                let reason = detail["reason"] as? String
            else { continue }
            pruneReasons[attempt] = reason
        }
        let numbers = Dictionary(uniqueKeysWithValues: attempts.map { ($0.id!, $0.number) })
        let runNumbers = Dictionary(uniqueKeysWithValues: runs.map { ($0.id!, $0.number) })
        let attemptRuns = Dictionary(uniqueKeysWithValues: attempts.map { ($0.id!, $0.runId.flatMap { runNumbers[$0] }) })
        let folds = sweep.definitionJson.spec.evaluation.foldCount
        return TrialDetail(
            sweep: sweep.name,
            trial: trial.number,
            trialId: id,
            state: trial.state,
            params: (try? TrialConfig.decode(json: trial.configJson)) ?? TrialConfig([:]),
            value: trial.bestValMetric,
            testMAE: trial.testMetric,
            bestEpoch: trial.bestEpoch,
            valSd: trial.valSd,
            valCI95: trial.valCiLow.flatMap { l in trial.valCiHigh.map { ConfidenceInterval(low: l, high: $0) } },
            confirmed: trial.confirmed,
            runs: runs.map {
                RunInfo(
                    number: $0.number,
                    kind: $0.kind,
                    fold: $0.fold,
                    folds: folds,
                    seedIndex: $0.seedIndex,
                    confirmation: $0.confirmation,
                    state: $0.state,
                    value: $0.bestValMetric,
                    bestEpoch: $0.bestEpoch,
                    testMAE: $0.testMetric,
                    epochs: $0.epochs
                )
            },
            attempts: attempts.map {
                AttemptInfo(
                    number: $0.number,
                    run: $0.runId.flatMap { runNumbers[$0] },
                    worker: $0.workerId,
                    state: $0.state,
                    error: $0.error,
                    pruneReason: pruneReasons[$0.id!],
                    startedAt: $0.startedAt,
                    finishedAt: $0.finishedAt,
                    workerVersion: $0.workerId.flatMap { registrations[$0]?.version },
                    engineVersion: $0.workerId.flatMap { registrations[$0]?.engineVersion },
                    cpuFeatures: $0.workerId.flatMap { registrations[$0]?.cpuFeatures }
                )
            },
            metrics: metrics.map {
                MetricRow(
                    run: attemptRuns[$0.attemptId] ?? nil,
                    attempt: numbers[$0.attemptId] ?? 0,
                    epoch: $0.epoch,
                    trainLoss: $0.trainLoss,
                    valLoss: $0.valLoss,
                    valMAE: $0.valMae,
                    seconds: $0.seconds
                )
            },
            objective: Self.objective(sweep)
        )
    }

    public func workerInfos() throws -> [WorkerInfo] {
        let running = try writer.read { db in
            try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(
                    db,
                    sql: "SELECT worker_id, COUNT(*) AS n FROM attempts WHERE state = 'running' AND worker_id IS NOT NULL GROUP BY worker_id"
                )
                .map { (($0["worker_id"] as String?) ?? "", $0["n"] as Int) }
            )
        }
        return try workers().map {
            WorkerInfo(
                id: $0.id,
                host: $0.host,
                slots: $0.slots,
                version: $0.version,
                lastSeen: $0.lastSeen,
                running: running[$0.id] ?? 0,
                engineVersion: $0.engineVersion,
                checkpointFormat: $0.checkpointFormat,
                cpuFeatures: $0.cpuFeatures
            )
        }
    }
}
