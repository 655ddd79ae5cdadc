import Foundation
import GRDB
import RecurSweep
import Testing

@testable import RecurStore

func makeSweep(_ store: SweepStore, name: String = "s", trials: Int = 3, target: String = "y") throws -> (SweepRecord, [TrialRecord]) {
    let spec = try SweepSpec.parse(yaml: "name: \(name)\ntask: {dataset: d.csv, target: \(target)}\nspace:\n  units: {int: [1, 1000]}\n")
    let sweep = try store.createSweep(spec, yaml: "name: \(name)", now: 0)
    let list = try (0..<trials).map { try store.addTrial(sweep: sweep.id!, number: $0, config: TrialConfig(["units": .int($0 + 1)]), now: 0) }
    return (sweep, list)
}

func metrics(_ epoch: Int, _ mae: Double = 1) -> EpochMetrics {
    EpochMetrics(epoch: epoch, trainLoss: 0.5, valLoss: 0.4, valMAE: mae, seconds: 0.1)
}

@Suite struct LeaseTests {
    @Test func aTrialRunsThroughLeaseReportComplete() throws {
        let store = try SweepStore()
        let (sweep, trials) = try makeSweep(store)
        let (_, attempt) = try store.lease(trial: trials[0].id!, worker: "w1", token: "t1", deadline: 10, now: 1)
        #expect(attempt.number == 1 && attempt.state == .running)
        let r1 = try store.report(token: "t1", metrics: metrics(1, 3.0), objective: 3.0, minimize: true, deadline: 20, now: 2)
        #expect(r1.inserted && r1.leaseDeadline == 20)
        #expect(try store.trial(id: trials[0].id!).bestValMetric == 3.0)
        let again = try store.report(token: "t1", metrics: metrics(1, 3.0), objective: 3.0, minimize: true, deadline: 20, now: 2)
        #expect(!again.inserted)  // idempotent
        _ = try store.report(token: "t1", metrics: metrics(2, 2.0), objective: 2.0, minimize: true, deadline: 30, now: 3)
        // The checkpoint was uploaded under the lease; the completion adopts it as the trial's file.
        try Data([1, 2, 3]).write(to: store.uploadFile(attempt: attempt.id!))
        let done = try store.complete(token: "t1", valMetric: 2.0, bestEpoch: 2, testMetric: 2.5, now: 4).trial
        #expect(done.state == .completed && done.testMetric == 2.5 && done.bestEpoch == 2)
        #expect(try store.checkpointData(trial: trials[0].id!) == Data([1, 2, 3]))
        guard case .file(let file, let bytes) = try store.checkpoint(trial: trials[0].id!) else {
            Issue.record("not a file")
            return
        }
        #expect(try bytes == 3 && file == store.uploadFile(attempt: attempt.id!))
        // At start-up only files a running attempt or a stored checkpoint refers to stay.
        let (_, running) = try store.lease(trial: trials[1].id!, worker: "w1", token: "t2", deadline: 10, now: 5)
        try Data([4]).write(to: store.uploadFile(attempt: running.id!))
        let stray = store.checkpointDirectory.appendingPathComponent("attempt-999.safetensors")
        let partial = store.checkpointDirectory.appendingPathComponent("attempt-\(running.id!).safetensors.part-x")
        for url in [stray, partial] { try Data([5]).write(to: url) }
        #expect(try store.removeStaleCheckpointFiles() == 2)
        #expect(try store.checkpointData(trial: trials[0].id!) == Data([1, 2, 3]))
        #expect(FileManager.default.fileExists(atPath: try store.uploadFile(attempt: running.id!).path))
        #expect(try store.metrics(trial: trials[0].id!).map(\.epoch) == [1, 2])
        // A late call with the finished lease gets staleLease and changes nothing.
        #expect(throws: StoreError.self) { try store.report(token: "t1", metrics: metrics(3), objective: 1, minimize: true, deadline: 40, now: 5) }
        #expect(try store.metrics(trial: trials[0].id!).count == 2)
        let kinds = try store.events(sweep: sweep.id!).map(\.kind)
        #expect(kinds.contains("leased") && kinds.contains("completed") && kinds.first == "sweep_created")
    }

    @Test func aTrialCannotBeLeasedTwice() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store)
        _ = try store.lease(trial: trials[0].id!, worker: "w1", token: "a", deadline: 10, now: 1)
        #expect(throws: StoreError.conflict("trial 0 is running and has no pending run")) {
            try store.lease(trial: trials[0].id!, worker: "w2", token: "b", deadline: 10, now: 1)
        }
    }

    @Test func expiredLeasesAreLostAndRequeuedUpToMaxAttempts() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 1)
        let id = trials[0].id!
        for (i, token) in ["a", "b"].enumerated() {
            _ = try store.lease(trial: id, worker: "w", token: token, deadline: 10 + Double(i) * 100, now: Double(i) * 100)
            _ = try store.report(
                token: token,
                metrics: metrics(1),
                objective: 1,
                minimize: true,
                deadline: 10 + Double(i) * 100,
                now: Double(i) * 100 + 1
            )
            let expired = try store.expireLeases(now: 50 + Double(i) * 100, maxAttempts: { _ in 2 })
            #expect(expired.count == 1)
        }
        let trial = try store.trial(id: id)
        #expect(trial.state == .failed)  // two lost attempts used both
        let attempts = try store.attempts(trial: id)
        #expect(attempts.map(\.state) == [.lost, .lost])
        // The lost attempts' partial metrics are kept.
        #expect(try store.metrics(trial: id).count == 2)
        #expect(throws: StoreError.self) { try store.renew(token: "a", deadline: 1000, now: 300) }
    }

    @Test func releaseDoesNotUseARetryButFailureDoes() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 1)
        let id = trials[0].id!
        _ = try store.lease(trial: id, worker: "w", token: "a", deadline: 10, now: 0)
        #expect(try store.release(token: "a", now: 1).trial.state == .pending)
        _ = try store.lease(trial: id, worker: "w", token: "b", deadline: 10, now: 2)
        #expect(try store.fail(token: "b", error: "boom", retryable: true, maxAttempts: 2, now: 3).trial.state == .pending)
        _ = try store.lease(trial: id, worker: "w", token: "c", deadline: 10, now: 4)
        #expect(try store.fail(token: "c", error: "boom", retryable: true, maxAttempts: 2, now: 5).trial.state == .failed)
        #expect(try store.attempts(trial: id).map(\.state) == [.released, .failed, .failed])
    }

    /// A failed trial has no result to rank: the best value its epochs reached is cleared (the
    /// epochs themselves stay), so the leaderboard cannot show it beside completed trials.
    @Test func nonRetryableFailureFailsAtOnce() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 1)
        _ = try store.lease(trial: trials[0].id!, worker: "w", token: "a", deadline: 10, now: 0)
        _ = try store.report(token: "a", metrics: metrics(1, 0.3), objective: 0.3, minimize: true, deadline: 10, now: 0.5)
        let failed = try store.fail(token: "a", error: "diverged", retryable: false, maxAttempts: 3, now: 1).trial
        #expect(failed.state == .failed && failed.bestValMetric == nil)
        #expect(try store.metrics(trial: trials[0].id!).count == 1)
        #expect(throws: StoreError.notFound(.checkpoint, "trial \(trials[0].id!) has no checkpoint (it is failed, not completed)")) {
            try store.checkpoint(trial: trials[0].id!)
        }
    }

    @Test func duplicateConfigsAndNamesAreRefused() throws {
        let store = try SweepStore()
        let (sweep, _) = try makeSweep(store)
        #expect(throws: StoreError.self) { try store.addTrial(sweep: sweep.id!, number: 9, config: TrialConfig(["units": .int(1)]), now: 0) }
        #expect(throws: StoreError.self) { try makeSweep(store) }
    }

    @Test func sweepStateTransitionsAreGuarded() throws {
        let store = try SweepStore()
        let (sweep, _) = try makeSweep(store)
        try store.setSweepState(sweep.id!, to: .paused, from: [.running], now: 1)
        try store.setSweepState(sweep.id!, to: .cancelled, from: [.running, .paused], now: 2)
        #expect(throws: StoreError.self) { try store.setSweepState(sweep.id!, to: .running, from: [.paused], now: 3) }
    }

    /// Random sequences of lease, report, renew, expire, complete, fail, release and prune — with
    /// stale tokens mixed in — keep the invariants after every operation.
    @Test(arguments: 1...8)
    func randomOperationsKeepTheInvariants(seed: Int) throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, name: "p\(seed)", trials: 4)
        var rng = SplitMix(seed: UInt64(seed))
        var tokens: [String] = []
        var now = 0.0
        var ok = 0
        for step in 0..<400 {
            now += Double(rng.next() % 5)
            let trial = trials[Int(rng.next() % 4)].id!
            let token = tokens.isEmpty || rng.next() % 4 == 0 ? "t\(step)" : tokens[Int(rng.next() % UInt64(tokens.count))]
            do {
                switch rng.next() % 8 {
                case 0, 1:
                    _ = try store.lease(trial: trial, worker: "w", token: token, deadline: now + 10, now: now)
                    tokens.append(token)
                case 2, 3:
                    _ = try store.report(
                        token: token,
                        metrics: metrics(Int(rng.next() % 5) + 1, Double(rng.next() % 100)),
                        objective: 1,
                        minimize: true,
                        deadline: now + 10,
                        now: now
                    )
                case 4: _ = try store.expireLeases(now: now, maxAttempts: { _ in 3 })
                case 5: _ = try store.complete(token: token, valMetric: 1, bestEpoch: 1, testMetric: 1, now: now)
                case 6: _ = try store.fail(token: token, error: "x", retryable: rng.next() % 2 == 0, maxAttempts: 3, now: now)
                default:
                    if rng.next() % 2 == 0 {
                        _ = try store.release(token: token, now: now)
                    } else {
                        _ = try store.prune(token: token, detail: [:], now: now)
                    }
                }
                ok += 1
            } catch is StoreError {
                // Refused operations are part of the test: they must change nothing.
            }
            try checkInvariants(store)
        }
        #expect(ok > 30, "too few operations succeeded to exercise the transitions")
    }

    func checkInvariants(_ store: SweepStore) throws {
        try store.writer.read { db in
            // At most one running attempt per trial; a running trial has exactly one.
            let running = try Row.fetchAll(db, sql: "SELECT trial_id, COUNT(*) AS n FROM attempts WHERE state = 'running' GROUP BY trial_id")
            for row in running { #expect((row["n"] as Int) == 1) }
            let mismatched = try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM trials t WHERE (t.state = 'running') != EXISTS (SELECT 1 FROM attempts a WHERE a.trial_id = t.id AND a.state = 'running')
                    """
            )!
            #expect(mismatched == 0)
            // Every metric row belongs to an attempt of its trial that ran (never a released-before-start one).
            let orphans = try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM epoch_metrics m LEFT JOIN attempts a ON a.id = m.attempt_id
                    WHERE a.id IS NULL OR a.trial_id != m.trial_id OR m.recorded_at < a.started_at OR (a.finished_at IS NOT NULL AND m.recorded_at > a.finished_at)
                    """
            )!
            #expect(orphans == 0)
            // A completed trial has exactly one succeeded attempt; no other trial has one.
            let badCompleted = try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM trials t WHERE (t.state = 'completed') != ((SELECT COUNT(*) FROM attempts a WHERE a.trial_id = t.id AND a.state = 'succeeded') = 1)
                    """
            )!
            #expect(badCompleted == 0)
            let doubleSuccess = try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM (SELECT trial_id FROM attempts WHERE state = 'succeeded' GROUP BY trial_id HAVING COUNT(*) > 1)"
            )!
            #expect(doubleSuccess == 0)
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
