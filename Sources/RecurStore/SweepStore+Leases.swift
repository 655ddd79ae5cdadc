import Foundation
import GRDB
import RecurSweep

/// Leases: the only way a trial runs. Each function is one transaction with guarded UPDATEs.
extension SweepStore {
    /// Starts an attempt of a pending trial under `token`, valid until `deadline`.
    public func lease(trial: Int64, worker: String?, token: String, deadline: Double, now: Double) throws -> (TrialRecord, AttemptRecord) {
        try write { db in try SweepStore.lease(db, trial: trial, worker: worker, token: token, deadline: deadline, now: now) }
    }

    /// Adds a newly sampled trial and leases it, in one transaction.
    public func addAndLease(
        sweep: Int64,
        number: Int,
        config: TrialConfig,
        canonicalJSON: String? = nil,
        worker: String?,
        token: String,
        deadline: Double,
        now: Double
    ) throws -> (TrialRecord, AttemptRecord) {
        try write { db in
            let trial = try SweepStore.insertTrial(db, sweep: sweep, number: number, config: config, canonicalJSON: canonicalJSON, now: now)
            return try SweepStore.lease(db, trial: trial.id!, worker: worker, token: token, deadline: deadline, now: now)
        }
    }

    static func lease(
        _ db: Database,
        trial: Int64,
        worker: String?,
        token: String,
        deadline: Double,
        now: Double
    ) throws -> (TrialRecord, AttemptRecord) {
        let start = try db.cachedStatement(
            sql: "UPDATE trials SET state = 'running', started_at = COALESCE(started_at, ?) WHERE id = ? AND state = 'pending' RETURNING *"
        )
        guard let t = try TrialRecord.fetchOne(start, arguments: [now, trial]) else {
            guard let t = try TrialRecord.fetchOne(db, key: trial) else { throw StoreError.notFound(.trial, "no trial with id \(trial)") }
            throw StoreError.conflict("trial \(t.number) is \(t.state.rawValue), not pending")
        }
        let previous = try db.cachedStatement(sql: "SELECT MAX(number) FROM attempts WHERE trial_id = ?")
        let number = (try Int.fetchOne(previous, arguments: [trial]) ?? 0) + 1
        var attempt = AttemptRecord(
            id: nil,
            trialId: trial,
            number: number,
            workerId: worker,
            leaseToken: token,
            leaseDeadline: deadline,
            state: .running,
            error: nil,
            startedAt: now,
            finishedAt: nil
        )
        do {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO attempts (trial_id, number, worker_id, lease_token, lease_deadline, state, started_at) VALUES (?, ?, ?, ?, ?, 'running', ?)
                    """
            )
            try insert.execute(arguments: [trial, number, worker, token, deadline, now])
            attempt.id = db.lastInsertedRowID
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate("lease token already used")
        }
        try SweepStore.event(
            db,
            "leased",
            sweep: t.sweepId,
            trial: trial,
            attempt: attempt.id,
            detail: ["attempt": number, "worker": worker ?? "", "deadline": deadline],
            now: now
        )
        return (t, attempt)
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
        try write { db in
            let renew = try db.cachedStatement(
                sql:
                    "UPDATE attempts SET lease_deadline = MAX(lease_deadline, ?) WHERE lease_token = ? AND state = 'running' RETURNING id, trial_id, lease_deadline"
            )
            guard let row = try Row.fetchOne(renew, arguments: [deadline, token])
            else {
                _ = try SweepStore.runningAttempt(db, token: token)
                throw StoreError.staleLease("the lease is not running")
            }
            let attemptId: Int64 = row[0]
            let trialId: Int64 = row[1]
            let leaseDeadline: Double = row[2]
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
                let best = try db.cachedStatement(
                    sql: "UPDATE trials SET best_val_metric = ?1, best_epoch = ?2 WHERE id = ?3 AND (best_val_metric IS NULL OR \(better))"
                )
                try best.execute(arguments: [objective, metrics.epoch, trialId])
            }
            return ReportOutcome(inserted: inserted, attemptId: attemptId, trialId: trialId, leaseDeadline: leaseDeadline)
        }
    }

    /// Ends the attempt holding `token` with `attemptState`, moving its trial to `trialState`.
    private func finish(
        token: String,
        attemptState: AttemptState,
        trialState: TrialState,
        error: String?,
        now: Double,
        event: String,
        detail: [String: Any],
        update: (Database, AttemptRecord) throws -> Void = { _, _ in }
    ) throws -> TrialRecord {
        nonisolated(unsafe) let detail = detail
        return try write { db in
            let attempt = try SweepStore.runningAttempt(db, token: token)
            let end = try db.cachedStatement(
                sql: "UPDATE attempts SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state = 'running' AND lease_token = ?"
            )
            try end.execute(arguments: [attemptState.rawValue, error, now, attempt.id, token])
            guard db.changesCount == 1 else { throw StoreError.staleLease("the lease changed") }
            let finished = trialState == .pending ? nil : now
            let move = try db.cachedStatement(sql: "UPDATE trials SET state = ?, finished_at = ? WHERE id = ? AND state = 'running'")
            try move.execute(arguments: [trialState.rawValue, finished, attempt.trialId])
            guard db.changesCount == 1 else { throw StoreError.conflict("trial \(attempt.trialId) is not running") }
            // A requeued trial starts over; a failed one has no result to rank (its partial epochs stay).
            if trialState == .pending || trialState == .failed {
                try db.cachedStatement(sql: "UPDATE trials SET best_val_metric = NULL, best_epoch = NULL WHERE id = ?").execute(arguments: [
                    attempt.trialId
                ])
            }
            try update(db, attempt)
            let select = try db.cachedStatement(sql: "SELECT * FROM trials WHERE id = ?")
            let trial = try TrialRecord.fetchOne(select, arguments: [attempt.trialId])!
            try SweepStore.event(db, event, sweep: trial.sweepId, trial: trial.id, attempt: attempt.id, detail: detail, now: now)
            return trial
        }
    }

    /// The attempt succeeded: final metrics, and the checkpoint uploaded under this lease if any
    /// (``uploadFile(attempt:)``).
    public func complete(token: String, valMetric: Double, bestEpoch: Int, testMetric: Double, now: Double) throws -> TrialRecord {
        try finish(
            token: token,
            attemptState: .succeeded,
            trialState: .completed,
            error: nil,
            now: now,
            event: "completed",
            detail: ["val_metric": valMetric, "test_metric": testMetric, "best_epoch": bestEpoch]
        ) { db, attempt in
            try db.cachedStatement(sql: "UPDATE trials SET best_val_metric = ?, best_epoch = ?, test_metric = ? WHERE id = ?")
                .execute(arguments: [valMetric, bestEpoch, testMetric, attempt.trialId])
            try adoptUpload(db, attempt: attempt, now: now)
        }
    }

    /// The pruner stopped the trial; `detail` holds the numbers behind the decision.
    public func prune(token: String, detail: [String: Any], testMetric: Double? = nil, now: Double) throws -> TrialRecord {
        try finish(token: token, attemptState: .pruned, trialState: .pruned, error: nil, now: now, event: "pruned", detail: detail) { db, attempt in
            if let testMetric { try db.execute(sql: "UPDATE trials SET test_metric = ? WHERE id = ?", arguments: [testMetric, attempt.trialId]) }
        }
    }

    /// Attempts that count against `retries.max_attempts`: failed and lost ones.
    static func usedAttempts(_ db: Database, trial: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE trial_id = ? AND state IN ('failed', 'lost')", arguments: [trial]) ?? 0
    }

    /// The worker gave up: requeue when retryable and attempts remain, else fail the trial.
    public func fail(token: String, error: String, retryable: Bool, maxAttempts: Int, now: Double) throws -> TrialRecord {
        let requeue: Bool = try read { db in
            let a = try SweepStore.runningAttempt(db, token: token)
            let used = try SweepStore.usedAttempts(db, trial: a.trialId)
            return retryable && used + 1 < maxAttempts
        }
        return try finish(
            token: token,
            attemptState: .failed,
            trialState: requeue ? .pending : .failed,
            error: error,
            now: now,
            event: requeue ? "attempt_failed_requeued" : "trial_failed",
            detail: ["error": error, "retryable": retryable]
        )
    }

    /// The worker hands the trial back without using up a retry (e.g. on SIGTERM).
    public func release(token: String, now: Double) throws -> TrialRecord {
        try finish(token: token, attemptState: .released, trialState: .pending, error: nil, now: now, event: "released", detail: [:])
    }

    /// Marks every running attempt whose deadline passed as lost and requeues its trial (or fails
    /// it when its attempts are used up). Returns the trials affected.
    public func expireLeases(now: Double, maxAttempts: (Int64) -> Int) throws -> [TrialRecord] {
        try write { db in
            let expired = try AttemptRecord.filter(sql: "state = 'running' AND lease_deadline < ?", arguments: [now]).fetchAll(db)
            var out: [TrialRecord] = []
            for attempt in expired {
                try db.execute(
                    sql: "UPDATE attempts SET state = 'lost', finished_at = ? WHERE id = ? AND state = 'running'",
                    arguments: [now, attempt.id]
                )
                guard db.changesCount == 1, var trial = try TrialRecord.fetchOne(db, key: attempt.trialId) else { continue }
                let used = try SweepStore.usedAttempts(db, trial: trial.id!)
                let next: TrialState = used < maxAttempts(trial.sweepId) ? .pending : .failed
                try db.execute(
                    sql: "UPDATE trials SET state = ?, best_val_metric = NULL, best_epoch = NULL, finished_at = ? WHERE id = ? AND state = 'running'",
                    arguments: [next.rawValue, next == .failed ? now : nil, trial.id]
                )
                trial.state = next
                try SweepStore.event(
                    db,
                    "lease_expired",
                    sweep: trial.sweepId,
                    trial: trial.id,
                    attempt: attempt.id,
                    detail: ["attempt": attempt.number, "deadline": attempt.leaseDeadline, "requeued": next == .pending],
                    now: now
                )
                out.append(trial)
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
