import Foundation
import GRDB
import RecurSweep
import Testing

@testable import RecurStore

/// A trial made of runs: its state and score follow from them, with numbers worked by hand.
@Suite struct RunTests {
    /// Two rolling-origin folds × two seeds, refit on.
    static let evaluation = SweepSpec.Evaluation(foldMethod: .rollingOrigin, folds: 2, seeds: 2)

    static func trial(_ store: SweepStore, evaluation: SweepSpec.Evaluation = evaluation) throws -> (SweepRecord, TrialRecord) {
        let (sweep, _) = try makeSweep(store, trials: 0)
        let (leased, _) = try store.addAndLease(
            sweep: sweep.id!,
            number: 0,
            config: TrialConfig(["units": .int(8)]),
            runs: evaluation.scoringRuns(seeds: 0..<evaluation.seeds),
            worker: "w",
            token: "r1",
            deadline: 100,
            now: 1
        )
        return (sweep, leased.trial)
    }

    /// Leases run `run` of the trial and completes it.
    @discardableResult
    static func finish(
        _ store: SweepStore,
        _ trial: Int64,
        token: String,
        run: Int? = nil,
        val: Double?,
        epoch: Int,
        test: Double,
        evaluation: SweepSpec.Evaluation = evaluation
    ) throws -> SweepStore.RunOutcome {
        if let run {
            let id = try #require(try store.runs(trial: trial).first { $0.number == run }?.id)
            _ = try store.lease(run: id, worker: "w", token: token, deadline: 100, now: 2)
        }
        return try store.complete(token: token, valMetric: val, bestEpoch: epoch, testMetric: test, evaluation: evaluation, now: 3)
    }

    @Test func aTrialIsScoredOverItsRunsThenRefitForTheMedianEpochs() throws {
        let store = try SweepStore()
        let (_, trial) = try Self.trial(store)
        let plans = try store.runs(trial: trial.id!).map { "\($0.fold!)/\($0.seedIndex)" }
        #expect(plans == ["1/0", "2/0", "1/1", "2/1"], "seed-major, every fold of a seed first")
        // Scores 1, 2, 3, 4 at best epochs 2, 3, 5, 4; the last fold's test MAE 7 and 9.
        try Self.finish(store, trial.id!, token: "r1", val: 1, epoch: 2, test: 8)
        try Self.finish(store, trial.id!, token: "r2", run: 2, val: 2, epoch: 3, test: 7)
        let partial = try Self.finish(store, trial.id!, token: "r3", run: 3, val: 3, epoch: 5, test: 8)
        #expect(partial.trial.state == .running && partial.added.isEmpty)
        let scored = try Self.finish(store, trial.id!, token: "r4", run: 4, val: 4, epoch: 4, test: 9)
        // Mean 2.5, sd √(5/3), n 4, t(3) = 3.182: 2.5 ± 3.182 · 1.29099 / 2.
        let t = scored.trial
        #expect(t.state == .running && t.bestValMetric == 2.5 && t.valRuns == 4)
        #expect(abs(t.valSd! - (5.0 / 3).squareRoot()) < 1e-12)
        #expect(abs(t.valCiLow! - (2.5 - 3.182 * (5.0 / 3).squareRoot() / 2)) < 1e-12)
        #expect(abs(t.valCiHigh! - (2.5 + 3.182 * (5.0 / 3).squareRoot() / 2)) < 1e-12)
        // One refit per seed, for the median best epoch (3.5 → 4), with nothing to validate on.
        #expect(scored.added.map(\.kind) == [.refit, .refit] && scored.added.map(\.seedIndex) == [0, 1])
        #expect(scored.added.allSatisfy { $0.epochs == 4 && $0.fold == nil })
        try Self.finish(store, trial.id!, token: "f1", run: 5, val: nil, epoch: 4, test: 3)
        let done = try Self.finish(store, trial.id!, token: "f2", run: 6, val: nil, epoch: 4, test: 5)
        #expect(done.trial.state == .completed && done.trial.testMetric == 4 && done.trial.bestEpoch == 4)
        let row = try #require(try store.leaderboard(sweep: "s").first)
        #expect(row.value == 2.5 && row.runs == 4 && row.valCI95 != nil && !row.confirmed && row.testMAE == 4)
    }

    /// Without refits the test score is the mean over the last fold's runs.
    @Test func withoutRefitTheLastFoldScoresTheTest() throws {
        let store = try SweepStore()
        var evaluation = Self.evaluation
        evaluation.refit = false
        let (_, trial) = try Self.trial(store, evaluation: evaluation)
        try Self.finish(store, trial.id!, token: "r1", val: 1, epoch: 1, test: 100, evaluation: evaluation)
        try Self.finish(store, trial.id!, token: "r2", run: 2, val: 1, epoch: 1, test: 6, evaluation: evaluation)
        try Self.finish(store, trial.id!, token: "r3", run: 3, val: 1, epoch: 1, test: 100, evaluation: evaluation)
        let done = try Self.finish(store, trial.id!, token: "r4", run: 4, val: 1, epoch: 1, test: 8, evaluation: evaluation)
        #expect(done.trial.state == .completed && done.trial.testMetric == 7 && done.added.isEmpty)
        #expect(done.trial.valSd == 0 && done.trial.valCiLow == 1)
    }

    /// A refit that fails for good does not undo the trial's score: it completes, and its test
    /// score falls back to the last fold's models.
    @Test func aFailedRefitLeavesTheScoreAndFallsBackToTheLastFold() throws {
        let store = try SweepStore()
        let (_, trial) = try Self.trial(store)
        try Self.finish(store, trial.id!, token: "r1", val: 1, epoch: 2, test: 100)
        try Self.finish(store, trial.id!, token: "r2", run: 2, val: 2, epoch: 3, test: 7)
        try Self.finish(store, trial.id!, token: "r3", run: 3, val: 3, epoch: 5, test: 100)
        try Self.finish(store, trial.id!, token: "r4", run: 4, val: 4, epoch: 4, test: 9)
        let id = try #require(try store.runs(trial: trial.id!).first { $0.number == 5 }?.id)
        _ = try store.lease(run: id, worker: "w", token: "f1", deadline: 100, now: 2)
        let failed = try store.fail(token: "f1", error: "diverged", retryable: false, maxAttempts: 3, evaluation: Self.evaluation, now: 3)
        #expect(failed.trial.state == .running && !failed.closed, "the other refit still runs")
        let done = try Self.finish(store, trial.id!, token: "f2", run: 6, val: nil, epoch: 4, test: 5)
        #expect(done.trial.state == .completed && done.trial.bestValMetric == 2.5 && done.trial.testMetric == 5)
        // With every refit failed, the last fold's models (test 7 and 9) score the test.
        let store2 = try SweepStore()
        let (_, other) = try Self.trial(store2)
        for (n, token) in [(1, "r1"), (2, "r2"), (3, "r3"), (4, "r4")] {
            try Self.finish(store2, other.id!, token: token, run: n == 1 ? nil : n, val: Double(n), epoch: 2, test: n % 2 == 0 ? Double(5 + n) : 100)
        }
        for (n, token) in [(5, "f1"), (6, "f2")] {
            let run = try #require(try store2.runs(trial: other.id!).first { $0.number == n }?.id)
            _ = try store2.lease(run: run, worker: "w", token: token, deadline: 100, now: 2)
            _ = try store2.fail(token: token, error: "x", retryable: false, maxAttempts: 3, evaluation: Self.evaluation, now: 3)
        }
        let fallback = try store2.trial(id: other.id!)
        #expect(fallback.state == .completed && fallback.testMetric == 8)
    }

    /// A pruned run prunes its trial: the runs not yet leased are cancelled, and nothing more is
    /// leased for it.
    @Test func aPrunedRunClosesItsTrial() throws {
        let store = try SweepStore()
        let (_, trial) = try Self.trial(store)
        let id = try #require(try store.runs(trial: trial.id!).first { $0.number == 2 }?.id)
        _ = try store.lease(run: id, worker: "w", token: "r2", deadline: 100, now: 2)
        _ = try store.report(token: "r1", metrics: metrics(1, 5), objective: 5, minimize: true, singleRun: false, deadline: 100, now: 2)
        #expect(try store.trial(id: trial.id!).bestValMetric == nil, "a trial of several runs is scored when they finish")
        let reason = "best 5.000 is worse than the median 4.000 of 5 completed trials at epoch 1"
        let pruned = try store.prune(token: "r1", detail: ["rule": "median", "reason": reason], evaluation: Self.evaluation, now: 3)
        #expect(pruned.closed && pruned.trial.state == .pruned && pruned.trial.bestValMetric == 5)
        #expect(pruned.trial.valRuns == nil && pruned.trial.valSd == nil && pruned.trial.testMetric == nil, "a closed trial has no score over runs")
        #expect(try store.runs(trial: trial.id!).map(\.state) == [.pruned, .running, .cancelled, .cancelled])
        #expect(throws: StoreError.self) { try store.lease(trial: trial.id!, worker: "w", token: "x", deadline: 100, now: 4) }
        // The run still out ends without reopening the trial.
        let late = try store.prune(token: "r2", detail: [:], evaluation: Self.evaluation, now: 5)
        #expect(late.trial.state == .pruned && !late.closed)
        // `trial show`, the trial page and GET /v1/trials/{id} say why each attempt was pruned.
        let attempts = try store.trialDetail(id: trial.id!).attempts
        #expect(attempts.map(\.pruneReason) == [reason, nil], "\(attempts)")
    }

    /// A lost run goes back to pending while the trial keeps running; its retries are its own.
    @Test func aLostRunIsRequeuedAndItsTrialKeepsRunning() throws {
        let store = try SweepStore()
        let (_, trial) = try Self.trial(store)
        try Self.finish(store, trial.id!, token: "r2", run: 2, val: 2, epoch: 3, test: 7)
        let expired = try store.expireLeases(now: 200, evaluation: { _ in Self.evaluation }, maxAttempts: { _ in 1 })
        #expect(
            expired.count == 1 && expired[0].run.state == .failed && expired[0].trial.state == .failed,
            "max_attempts 1: the run fails, and its trial"
        )
        let store2 = try SweepStore()
        let (_, other) = try Self.trial(store2)
        let requeued = try store2.expireLeases(now: 200, evaluation: { _ in Self.evaluation }, maxAttempts: { _ in 3 })
        #expect(requeued[0].run.state == .pending && requeued[0].trial.state == .pending)
        let (_, again) = try store2.lease(trial: other.id!, worker: "w", token: "z", deadline: 300, now: 201)
        #expect(again.runId == requeued[0].run.id && again.number == 2)
    }

    /// Confirmation re-runs the best completed trials with more seeds; they are marked confirmed
    /// once those succeed, and rank first.
    @Test func confirmationAddsSeedsToTheTopTrialsAndRanksThemFirst() throws {
        let store = try SweepStore()
        var evaluation = SweepSpec.Evaluation(seeds: 1, confirm: .init(topK: 1, seeds: 2))
        evaluation.refit = false
        let (sweep, _) = try makeSweep(store, trials: 0)
        for (n, value) in [(0, 2.0), (1, 1.0), (2, 1.5)] {
            let (leased, _) = try store.addAndLease(
                sweep: sweep.id!,
                number: n,
                config: TrialConfig(["units": .int(n + 1)]),
                runs: evaluation.scoringRuns(seeds: 0..<1),
                worker: "w",
                token: "t\(n)",
                deadline: 100,
                now: 1
            )
            let done = try store.complete(token: "t\(n)", valMetric: value, bestEpoch: 1, testMetric: value, evaluation: evaluation, now: 2)
            #expect(done.trial.state == .completed && leased.run.number == 1)
        }
        let added = try store.addConfirmationRuns(sweep: sweep.id!, evaluation: evaluation, now: 3)
        #expect(added.map(\.trialNumber) == [1, 1] && added.map(\.run.seedIndex) == [1, 2] && added.allSatisfy(\.run.confirmation))
        #expect(try store.addConfirmationRuns(sweep: sweep.id!, evaluation: evaluation, now: 3).isEmpty, "added once")
        for (i, item) in added.enumerated() {
            _ = try store.lease(run: item.run.id!, worker: "w", token: "c\(i)", deadline: 100, now: 4)
            let outcome = try store.complete(token: "c\(i)", valMetric: 2.0, bestEpoch: 1, testMetric: 2.0, evaluation: evaluation, now: 5)
            #expect(outcome.trial.state == .completed, "a completed trial stays completed while it is confirmed")
            #expect(outcome.trial.confirmed == (i == 1))
        }
        // Trial 1's mean is now (1 + 2 + 2) / 3 = 5/3, worse than trial 2's 1.5 — but it is the confirmed one.
        let rows = try store.leaderboard(sweep: "s")
        #expect(rows.map(\.trial) == [1, 2, 0] && rows[0].confirmed && rows[0].runs == 3 && abs(rows[0].value! - 5.0 / 3) < 1e-12)
        #expect(try store.summary(named: "s").bestTrial == 1)
    }

    /// Random leases, reports, completions, failures, releases, prunes and expiries over trials of
    /// four runs keep the run invariants after every operation.
    @Test(arguments: 1...6)
    func randomOperationsOnRunsKeepTheInvariants(seed: Int) throws {
        let store = try SweepStore()
        let (sweep, _) = try makeSweep(store, name: "r\(seed)", trials: 0)
        let evaluation = Self.evaluation
        let trials = try (0..<3).map { n in
            try store.write { db in
                try SweepStore.insertTrial(
                    db,
                    sweep: sweep.id!,
                    number: n,
                    config: TrialConfig(["units": .int(n + 1)]),
                    runs: evaluation.scoringRuns(seeds: 0..<2),
                    now: 0
                )
            }
        }
        var rng = SplitMix(seed: UInt64(seed))
        var tokens: [String] = []
        var now = 0.0
        for step in 0..<400 {
            now += Double(rng.next() % 5)
            let trial = trials[Int(rng.next() % 3)].id!
            let token = tokens.isEmpty || rng.next() % 3 == 0 ? "t\(step)" : tokens[Int(rng.next() % UInt64(tokens.count))]
            do {
                switch rng.next() % 8 {
                case 0, 1:
                    _ = try store.lease(trial: trial, worker: "w", token: token, deadline: now + 10, now: now)
                    tokens.append(token)
                case 2:
                    let value = Double(rng.next() % 100)
                    _ = try store.report(
                        token: token,
                        metrics: metrics(Int(rng.next() % 5) + 1, value),
                        objective: value,
                        minimize: true,
                        singleRun: false,
                        deadline: now + 10,
                        now: now
                    )
                case 3: _ = try store.expireLeases(now: now, evaluation: { _ in evaluation }, maxAttempts: { _ in 3 })
                case 4, 5:
                    _ = try store.complete(
                        token: token,
                        valMetric: Double(rng.next() % 9),
                        bestEpoch: 2,
                        testMetric: 1,
                        evaluation: evaluation,
                        now: now
                    )
                case 6: _ = try store.fail(token: token, error: "x", retryable: rng.next() % 4 != 0, maxAttempts: 3, evaluation: evaluation, now: now)
                default:
                    if rng.next() % 3 == 0 {
                        _ = try store.prune(token: token, detail: [:], evaluation: evaluation, now: now)
                    } else {
                        _ = try store.release(token: token, evaluation: evaluation, now: now)
                    }
                }
            } catch is StoreError {
                // Refused operations must change nothing.
            }
            try checkRunInvariants(store)
        }
    }

    func checkRunInvariants(_ store: SweepStore) throws {
        try store.writer.read { db in
            func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? -1 }
            // A run is running exactly when it has a running attempt, and has at most one.
            #expect(
                try count(
                    "SELECT COUNT(*) FROM runs r WHERE (r.state = 'running') != EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.id AND a.state = 'running')"
                ) == 0
            )
            // Every attempt belongs to a run of its own trial.
            #expect(
                try count("SELECT COUNT(*) FROM attempts a LEFT JOIN runs r ON r.id = a.run_id WHERE r.id IS NULL OR r.trial_id != a.trial_id") == 0
            )
            // A pruned or failed trial leases nothing more: no pending run.
            #expect(
                try count(
                    "SELECT COUNT(*) FROM runs r JOIN trials t ON t.id = r.trial_id WHERE t.state IN ('pruned', 'failed') AND r.state = 'pending'"
                )
                    == 0
            )
            // A completed trial has every scoring run succeeded, one succeeded refit per seed, and its mean over them.
            for row in try Row.fetchAll(db, sql: "SELECT id, best_val_metric, val_runs FROM trials WHERE state = 'completed'") {
                let id: Int64 = row["id"]
                let runs = try RunRecord.filter(Column("trial_id") == id).fetchAll(db)
                #expect(runs.allSatisfy { $0.state == .succeeded || ($0.kind == .refit && $0.state == .failed) })
                #expect(runs.filter { $0.kind == .refit }.count == 2)
                let values = runs.filter { $0.kind == .scoring }.compactMap(\.bestValMetric)
                #expect((row["val_runs"] as Int?) == 4 && abs((row["best_val_metric"] as Double? ?? -1) - values.reduce(0, +) / 4) < 1e-9)
            }
            // A running trial has a run that runs or succeeded; a pending one has none.
            #expect(
                try count(
                    "SELECT COUNT(*) FROM trials t WHERE t.state = 'pending' AND EXISTS (SELECT 1 FROM runs r WHERE r.trial_id = t.id AND r.state IN ('running', 'succeeded'))"
                ) == 0
            )
        }
    }
}
