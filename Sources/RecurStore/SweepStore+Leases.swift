import Foundation
import GRDB
import RecurSweep

/// Leases: the only way a trial runs. Each function is one transaction with guarded UPDATEs.
extension SweepStore {
    /// Starts an attempt of a trial's first pending run under `token`, valid until `deadline`.
    public func lease(trial: Int64, worker: String?, token: String, deadline: Double, now: Double) throws -> (TrialRecord, AttemptRecord) {
        let leased = try write { db in
            let next = try db.cachedStatement(sql: "SELECT id FROM runs WHERE trial_id = ? AND state = 'pending' ORDER BY number LIMIT 1")
            guard let run = try Int64.fetchOne(next, arguments: [trial]) else {
                guard let t = try TrialRecord.fetchOne(db, key: trial) else { throw StoreError.notFound(.trial, "no trial with id \(trial)") }
                throw StoreError.conflict("trial \(t.number) is \(t.state.rawValue) and has no pending run")
            }
            return try SweepStore.lease(db, run: run, worker: worker, token: token, deadline: deadline, now: now)
        }
        return (leased.trial, leased.attempt)
    }

    /// A leased run: its trial, the run and the attempt just started.
    public struct LeasedRun: Sendable {
        public var trial: TrialRecord
        public var run: RunRecord
        public var attempt: AttemptRecord
    }

    /// Starts an attempt of pending run `run`.
    public func lease(run: Int64, worker: String?, token: String, deadline: Double, now: Double) throws -> LeasedRun {
        try write { db in try SweepStore.lease(db, run: run, worker: worker, token: token, deadline: deadline, now: now) }
    }

    /// Adds a newly sampled trial with its runs and leases its first run, in one transaction.
    public func addAndLease(
        sweep: Int64,
        number: Int,
        config: TrialConfig,
        canonicalJSON: String? = nil,
        runs: [RunPlan] = [RunPlan(kind: .scoring, fold: nil, seedIndex: 0)],
        worker: String?,
        token: String,
        deadline: Double,
        now: Double
    ) throws -> (leased: LeasedRun, others: [RunRecord]) {
        try write { db in
            let trial = try SweepStore.insertTrial(
                db,
                sweep: sweep,
                number: number,
                config: config,
                canonicalJSON: canonicalJSON,
                runs: runs,
                now: now
            )
            let all = try RunRecord.filter(Column("trial_id") == trial.id!).order(Column("number")).fetchAll(db)
            let leased = try SweepStore.lease(db, run: all[0].id!, worker: worker, token: token, deadline: deadline, now: now)
            return (leased, Array(all.dropFirst()))
        }
    }

    static func lease(
        _ db: Database,
        run runId: Int64,
        worker: String?,
        token: String,
        deadline: Double,
        now: Double
    ) throws -> LeasedRun {
        let startRun = try db.cachedStatement(
            sql: "UPDATE runs SET state = 'running', started_at = COALESCE(started_at, ?) WHERE id = ? AND state = 'pending' RETURNING *"
        )
        guard let run = try RunRecord.fetchOne(startRun, arguments: [now, runId]) else {
            guard let r = try RunRecord.fetchOne(db, key: runId) else { throw StoreError.notFound(.trial, "no run with id \(runId)") }
            throw StoreError.conflict("run \(r.number) of trial \(r.trialId) is \(r.state.rawValue), not pending")
        }
        // A completed trial stays completed while its confirmation runs train.
        let start = try db.cachedStatement(
            sql: """
                UPDATE trials SET state = CASE state WHEN 'completed' THEN 'completed' ELSE 'running' END,
                started_at = COALESCE(started_at, ?) WHERE id = ? AND state IN ('pending', 'running', 'completed') RETURNING *
                """
        )
        guard let t = try TrialRecord.fetchOne(start, arguments: [now, run.trialId]) else {
            guard let t = try TrialRecord.fetchOne(db, key: run.trialId) else { throw StoreError.notFound(.trial, "no trial with id \(run.trialId)") }
            throw StoreError.conflict("trial \(t.number) is \(t.state.rawValue); its runs are not leased")
        }
        let previous = try db.cachedStatement(sql: "SELECT MAX(number) FROM attempts WHERE trial_id = ?")
        let number = (try Int.fetchOne(previous, arguments: [run.trialId]) ?? 0) + 1
        var attempt = AttemptRecord(
            id: nil,
            trialId: run.trialId,
            number: number,
            workerId: worker,
            leaseToken: token,
            leaseDeadline: deadline,
            state: .running,
            error: nil,
            startedAt: now,
            finishedAt: nil,
            runId: runId
        )
        do {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO attempts (trial_id, run_id, number, worker_id, lease_token, lease_deadline, state, started_at)
                    VALUES (?, ?, ?, ?, ?, ?, 'running', ?)
                    """
            )
            try insert.execute(arguments: [run.trialId, runId, number, worker, token, deadline, now])
            attempt.id = db.lastInsertedRowID
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate("lease token already used")
        }
        try SweepStore.event(
            db,
            "leased",
            sweep: t.sweepId,
            trial: run.trialId,
            attempt: attempt.id,
            detail: ["attempt": number, "run": run.number, "worker": worker ?? "", "deadline": deadline],
            now: now
        )
        return LeasedRun(trial: t, run: run, attempt: attempt)
    }

    /// The running attempt holding `token`, or `staleLease`.
    static func runningAttempt(_ db: Database, token: String) throws -> AttemptRecord {
        let select = try db.cachedStatement(sql: "SELECT * FROM attempts WHERE lease_token = ?")
        guard let a = try AttemptRecord.fetchOne(select, arguments: [token]) else {
            throw StoreError.notFound(.lease, "unknown lease token")
        }
        guard a.state == .running else {
            throw StoreError.staleLease("the lease of attempt \(a.number) of trial \(a.trialId) is \(a.state.rawValue)")
        }
        return a
    }

    /// Extends a running lease (heartbeat).
    public func renew(token: String, deadline: Double, now: Double) throws -> AttemptRecord {
        try write { db in
            try db.execute(
                sql: "UPDATE attempts SET lease_deadline = MAX(lease_deadline, ?) WHERE lease_token = ? AND state = 'running'",
                arguments: [deadline, token]
            )
            guard db.changesCount == 1 else {
                _ = try SweepStore.runningAttempt(db, token: token)
                throw StoreError.staleLease("lease not renewed")
            }
            return try AttemptRecord.filter(Column("lease_token") == token).fetchOne(db)!
        }
    }

    /// What ``report(token:metrics:objective:minimize:deadline:now:)`` did.
    public struct ReportOutcome: Sendable, Equatable {
        /// False when this epoch was already recorded (an idempotent replay).
        public var inserted: Bool
        public var attemptId: Int64
        public var trialId: Int64
        public var leaseDeadline: Double
    }

    /// Stores one epoch's metrics for the running attempt holding `token` (idempotent on
    /// trial/attempt/epoch), tracks the trial's best objective and renews the lease.
    public func report(token: String, metrics: EpochMetrics, objective: Double, minimize: Bool, deadline: Double, now: Double) throws -> ReportOutcome
    {
        try report(token: token, metrics: metrics, objective: objective, minimize: minimize, singleRun: true, deadline: deadline, now: now)
    }

    /// As above; `singleRun`: the trial is its one run, so the trial's best follows the run's
    /// epoch by epoch (a trial of several runs is scored when they finish).
    public func report(
        token: String,
        metrics: EpochMetrics,
        objective: Double,
        minimize: Bool,
        singleRun: Bool,
        deadline: Double,
        now: Double
    ) throws -> ReportOutcome {
        try write { db in
            let renew = try db.cachedStatement(
                sql:
                    "UPDATE attempts SET lease_deadline = MAX(lease_deadline, ?) WHERE lease_token = ? AND state = 'running' RETURNING id, trial_id, lease_deadline, run_id"
            )
            guard let row = try Row.fetchOne(renew, arguments: [deadline, token])
            else {
                _ = try SweepStore.runningAttempt(db, token: token)
                throw StoreError.staleLease("the lease is not running")
            }
            let attemptId: Int64 = row[0]
            let trialId: Int64 = row[1]
            let leaseDeadline: Double = row[2]
            let runId: Int64? = row[3]
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO epoch_metrics (trial_id, attempt_id, epoch, train_loss, val_loss, val_mae, seconds, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """
            )
            try insert.execute(arguments: [
                trialId, attemptId, metrics.epoch, metrics.trainLoss, metrics.valLoss, metrics.valMAE, metrics.seconds, now,
            ])
            let inserted = db.changesCount == 1
            if inserted && objective.isFinite {
                let better = minimize ? "?1 < best_val_metric" : "?1 > best_val_metric"
                let runBest = try db.cachedStatement(
                    sql: "UPDATE runs SET best_val_metric = ?1, best_epoch = ?2 WHERE id = ?3 AND (best_val_metric IS NULL OR \(better))"
                )
                try runBest.execute(arguments: [objective, metrics.epoch, runId])
                if singleRun {
                    let best = try db.cachedStatement(
                        sql: "UPDATE trials SET best_val_metric = ?1, best_epoch = ?2 WHERE id = ?3 AND (best_val_metric IS NULL OR \(better))"
                    )
                    try best.execute(arguments: [objective, metrics.epoch, trialId])
                }
            }
            return ReportOutcome(inserted: inserted, attemptId: attemptId, trialId: trialId, leaseDeadline: leaseDeadline)
        }
    }

    /// How an attempt's end left its run and trial, and the runs it added (refits).
    public struct RunOutcome: Sendable {
        public var trial: TrialRecord
        public var run: RunRecord
        /// Runs added because this one finished (the trial's refits).
        public var added: [RunRecord]
        /// The trial was pruned or failed just now: its other runs are not leased.
        public var closed: Bool
    }

    /// Ends the attempt holding `token` with `attemptState`, its run with `runState`, and settles
    /// the trial from its runs (``settle(_:trial:evaluation:now:)``).
    private func finish(
        token: String,
        attemptState: AttemptState,
        runState: RunState,
        error: String?,
        evaluation: SweepSpec.Evaluation,
        now: Double,
        event: String,
        detail: [String: Any],
        update: (Database, AttemptRecord) throws -> Void = { _, _ in }
    ) throws -> RunOutcome {
        nonisolated(unsafe) let detail = detail
        return try write { db in
            let attempt = try SweepStore.runningAttempt(db, token: token)
            let end = try db.cachedStatement(
                sql: "UPDATE attempts SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'running' AND lease_token = ?"
            )
            try end.execute(arguments: [attemptState.rawValue, error, now, attempt.id, token])
            guard db.changesCount == 1 else { throw StoreError.staleLease("the lease changed") }
            try SweepStore.endRun(db, attempt: attempt, state: runState, now: now)
            try update(db, attempt)
            let settled = try SweepStore.settle(db, trial: attempt.trialId, evaluation: evaluation, now: now)
            try SweepStore.event(db, event, sweep: settled.trial.sweepId, trial: attempt.trialId, attempt: attempt.id, detail: detail, now: now)
            let run = try RunRecord.fetchOne(db, key: attempt.runId)!
            return RunOutcome(trial: settled.trial, run: run, added: settled.added, closed: settled.closed)
        }
    }

    /// Moves the run of `attempt` to `state`; a run going back to pending starts over.
    static func endRun(_ db: Database, attempt: AttemptRecord, state: RunState, now: Double) throws {
        let finished = state == .pending ? nil : now
        let move = try db.cachedStatement(sql: "UPDATE runs SET state = ?, finished_at = ? WHERE id = ? AND state = 'running'")
        try move.execute(arguments: [state.rawValue, finished, attempt.runId])
        guard db.changesCount == 1 else { throw StoreError.conflict("run \(attempt.runId ?? 0) of trial \(attempt.trialId) is not running") }
        if state == .pending || state == .failed {
            try db.execute(sql: "UPDATE runs SET best_val_metric = NULL, best_epoch = NULL WHERE id = ?", arguments: [attempt.runId])
        }
    }

    /// The run succeeded: final metrics (a refit has no validation value), and the checkpoint
    /// uploaded under this lease when `keepCheckpoint` (the run the trial's model comes from).
    public func complete(
        token: String,
        valMetric: Double?,
        bestEpoch: Int,
        testMetric: Double,
        evaluation: SweepSpec.Evaluation = .init(),
        keepCheckpoint: (RunRecord) -> Bool = { _ in true },
        now: Double
    ) throws -> RunOutcome {
        var detail: [String: Any] = ["test_metric": testMetric, "best_epoch": bestEpoch]
        if let valMetric { detail["val_metric"] = valMetric }
        return try finish(
            token: token,
            attemptState: .succeeded,
            runState: .succeeded,
            error: nil,
            evaluation: evaluation,
            now: now,
            event: "completed",
            detail: detail
        ) { db, attempt in
            try db.cachedStatement(sql: "UPDATE runs SET best_val_metric = ?, best_epoch = ?, test_metric = ? WHERE id = ?")
                .execute(arguments: [valMetric, bestEpoch, testMetric, attempt.runId])
            if let run = try RunRecord.fetchOne(db, key: attempt.runId), keepCheckpoint(run) {
                try adoptUpload(db, attempt: attempt, now: now)
            } else {
                discardUpload(attempt: attempt.id!)
            }
        }
    }

    /// The pruner stopped the run (and so its trial); `detail` holds the numbers behind the decision.
    public func prune(
        token: String,
        detail: [String: Any],
        testMetric: Double? = nil,
        evaluation: SweepSpec.Evaluation = .init(),
        now: Double
    )
        throws -> RunOutcome
    {
        try finish(
            token: token,
            attemptState: .pruned,
            runState: .pruned,
            error: nil,
            evaluation: evaluation,
            now: now,
            event: "pruned",
            detail: detail
        ) { db, attempt in
            if let testMetric { try db.execute(sql: "UPDATE runs SET test_metric = ? WHERE id = ?", arguments: [testMetric, attempt.runId]) }
        }
    }

    /// Attempts that count against `retries.max_attempts`: the run's failed and lost ones.
    static func usedAttempts(_ db: Database, run: Int64?) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE run_id = ? AND state IN ('failed', 'lost')", arguments: [run]) ?? 0
    }

    /// The worker gave up: requeue the run when retryable and attempts remain, else fail it (and
    /// so its trial).
    public func fail(
        token: String,
        error: String,
        retryable: Bool,
        maxAttempts: Int,
        evaluation: SweepSpec.Evaluation = .init(),
        now: Double
    )
        throws -> RunOutcome
    {
        let requeue: Bool = try read { db in
            let a = try SweepStore.runningAttempt(db, token: token)
            let used = try SweepStore.usedAttempts(db, run: a.runId)
            return retryable && used + 1 < maxAttempts
        }
        return try finish(
            token: token,
            attemptState: .failed,
            runState: requeue ? .pending : .failed,
            error: error,
            evaluation: evaluation,
            now: now,
            event: requeue ? "attempt_failed_requeued" : "trial_failed",
            detail: ["error": error, "retryable": retryable]
        )
    }

    /// The worker hands the run back without using up a retry (e.g. on SIGTERM).
    public func release(token: String, evaluation: SweepSpec.Evaluation = .init(), now: Double) throws -> RunOutcome {
        try finish(
            token: token,
            attemptState: .released,
            runState: .pending,
            error: nil,
            evaluation: evaluation,
            now: now,
            event: "released",
            detail: [:]
        )
    }

    /// Marks every running attempt whose deadline passed as lost and requeues its run (or fails
    /// it when its attempts are used up). Returns what each did to its run and trial.
    public func expireLeases(
        now: Double,
        evaluation: (Int64) -> SweepSpec.Evaluation = { _ in .init() },
        maxAttempts: (Int64) -> Int
    ) throws
        -> [RunOutcome]
    {
        try write { db in
            let expired = try AttemptRecord.filter(sql: "state = 'running' AND lease_deadline < ?", arguments: [now]).fetchAll(db)
            var out: [RunOutcome] = []
            for attempt in expired {
                try db.execute(
                    sql: "UPDATE attempts SET state = 'lost', finished_at = ? WHERE id = ? AND state = 'running'",
                    arguments: [now, attempt.id]
                )
                guard db.changesCount == 1, let trial = try TrialRecord.fetchOne(db, key: attempt.trialId) else { continue }
                let used = try SweepStore.usedAttempts(db, run: attempt.runId)
                let next: RunState = used < maxAttempts(trial.sweepId) ? .pending : .failed
                try SweepStore.endRun(db, attempt: attempt, state: next, now: now)
                let settled = try SweepStore.settle(db, trial: trial.id!, evaluation: evaluation(trial.sweepId), now: now)
                try SweepStore.event(
                    db,
                    "lease_expired",
                    sweep: trial.sweepId,
                    trial: trial.id,
                    attempt: attempt.id,
                    detail: ["attempt": attempt.number, "deadline": attempt.leaseDeadline, "requeued": next == .pending],
                    now: now
                )
                let run = try RunRecord.fetchOne(db, key: attempt.runId)!
                out.append(RunOutcome(trial: settled.trial, run: run, added: settled.added, closed: settled.closed))
            }
            return out
        }
    }

    /// Gives every running attempt until at least `deadline`: after a coordinator restart, its
    /// workers get one lease length to reach it again before their work is counted lost.
    public func extendRunningLeases(until deadline: Double) throws {
        try write { db in
            try db.execute(sql: "UPDATE attempts SET lease_deadline = MAX(lease_deadline, ?) WHERE state = 'running'", arguments: [deadline])
        }
    }

    /// Attempts currently running (e.g. to resume leases after a restart).
    public func runningAttempts() throws -> [AttemptRecord] {
        try read { db in try AttemptRecord.filter(Column("state") == "running").fetchAll(db) }
    }
}
