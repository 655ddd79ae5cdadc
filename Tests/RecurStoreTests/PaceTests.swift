import Foundation
import RecurSweep
import Testing

@testable import RecurStore

/// The sweep's ETA counts running trials by their reported epochs, so it falls steadily from the
/// first epoch on instead of waiting for (and then jumping with) the first finished trial.
@Suite struct PaceTests {
    @Test func theETACountsRunningTrialsByTheirEpochs() throws {
        let store = try SweepStore()
        let (sweep, trials) = try makeSweep(store, trials: 3)  // 20 trials of 20 epochs
        _ = try store.lease(trial: trials[0].id!, worker: "w", token: "a", deadline: 1000, now: 100)
        var s = try store.summary(of: sweep, now: 105)
        #expect(s.trialsDone == 0 && s.etaSeconds == nil, "no epoch yet, no pace")
        for epoch in 1...5 {
            _ = try store.report(token: "a", metrics: metrics(epoch), objective: 1, minimize: true, deadline: 1000, now: 100 + Double(epoch))
        }
        // A quarter of one trial from the lease (100) to the last report (105): 19.75 trials
        // left at 0.05 trials/s end at 500, whenever the summary is read.
        s = try store.summary(of: sweep, now: 110)
        #expect(s.trialsDone == 0.25 && s.endsAt == 500)
        #expect(abs(try #require(s.etaSeconds) - 390) < 1e-9)
        #expect(try store.summary(of: sweep, now: 200).endsAt == 500)

        for epoch in 6...20 {
            _ = try store.report(token: "a", metrics: metrics(epoch), objective: 1, minimize: true, deadline: 1000, now: 110)
        }
        _ = try store.complete(token: "a", valMetric: 1, bestEpoch: 20, testMetric: 1, now: 120)
        _ = try store.lease(trial: trials[1].id!, worker: "w", token: "b", deadline: 1000, now: 120)
        for epoch in 1...10 {
            _ = try store.report(token: "b", metrics: metrics(epoch), objective: 1, minimize: true, deadline: 1000, now: 130)
        }
        // One finished and half of another from 100 to the last report at 130: 18.5 trials left
        // at 1.5/30 trials/s end at 130 + 370 = 500.
        s = try store.summary(of: sweep, now: 140)
        #expect(s.trialsDone == 1.5 && s.endsAt == 500)
        #expect(abs(try #require(s.etaSeconds) - 360) < 1e-9)
    }

    @Test func aSweepThatIsNotRunningHasNoETA() throws {
        let store = try SweepStore()
        let (sweep, trials) = try makeSweep(store, trials: 1)
        _ = try store.lease(trial: trials[0].id!, worker: "w", token: "a", deadline: 1000, now: 100)
        _ = try store.report(token: "a", metrics: metrics(1), objective: 1, minimize: true, deadline: 1000, now: 101)
        _ = try store.setSweepState(sweep.id!, to: .paused, from: [.running], now: 102)
        let s = try store.summary(of: try store.sweep(named: "s"), now: 110)
        #expect(s.trialsDone == 0.05 && s.etaSeconds == nil)
    }

    /// Each trial leased at 100, reporting `epochs` epochs of 0.1 s at 101, completed at `end`.
    static func complete(_ store: SweepStore, _ runs: [(trial: TrialRecord, epochs: Int, token: String, end: Double)]) throws {
        for run in runs {
            _ = try store.lease(trial: run.trial.id!, worker: "w", token: run.token, deadline: 1000, now: 100)
            for e in 1...run.epochs {
                _ = try store.report(token: run.token, metrics: metrics(e), objective: 1, minimize: true, deadline: 1000, now: 101)
            }
            _ = try store.complete(token: run.token, valMetric: 1, bestEpoch: 1, testMetric: 1, now: run.end)
        }
    }

    /// What `sweep plan --db` learns: completed trials with early stopping trained 5 and 10 of
    /// their 20 epochs on this task; another task's sweep does not count.
    @Test func earlyStoppingShareComesFromCompletedTrialsOnTheTask() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 2)
        try Self.complete(store, [(trials[0], 5, "a", 102), (trials[1], 10, "b", 102)])
        let found = try #require(try store.earlyStoppingShare(dataset: "elsewhere/d.csv", target: "y"))
        #expect(found.trials == 2 && abs(found.share - 0.375) < 1e-12)
        #expect(try store.earlyStoppingShare(dataset: "d.csv", target: "other") == nil)
    }

    /// What `sweep plan --db` adds per run: the attempts' time beyond their reported epochs (two
    /// runs: 2 s with five epochs of 0.1 s, 3 s with ten), the median; another task's sweep does
    /// not count, nor an attempt that reported no epoch.
    @Test func runOverheadComesFromSucceededAttemptsOnTheTask() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 3)
        try Self.complete(store, [(trials[0], 5, "a", 102), (trials[1], 10, "b", 103)])
        _ = try store.lease(trial: trials[2].id!, worker: "w", token: "c", deadline: 1000, now: 100)
        _ = try store.complete(token: "c", valMetric: 1, bestEpoch: 1, testMetric: 1, now: 190)
        let found = try #require(try store.runOverhead(dataset: "elsewhere/d.csv", target: "y"))
        #expect(found.runs == 2 && abs(found.seconds - 1.75) < 1e-9)
        // A sweep's own runs, when it has any, before the other sweeps' on the task.
        let (_, others) = try makeSweep(store, name: "other", trials: 1)
        try Self.complete(store, [(others[0], 1, "o", 110)])
        #expect(try store.runOverhead(dataset: "d.csv", target: "y")?.runs == 3)
        let own = try #require(try store.runOverhead(dataset: "d.csv", target: "y", sweep: "other"))
        #expect(own.runs == 1 && abs(own.seconds - 9.9) < 1e-9)
        #expect(try store.runOverhead(dataset: "d.csv", target: "y", sweep: "new")?.runs == 3)
        #expect(try store.runOverhead(dataset: "d.csv", target: "other") == nil)
    }

    /// What `sweep plan --db` compares with its calibration: each succeeded attempt's epochs and
    /// their seconds (five and ten epochs of 0.1 s), with its configuration and run; a failed
    /// attempt and another task's sweep do not count.
    @Test func epochPacesComeFromSucceededAttemptsOnTheTask() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 3)
        try Self.complete(store, [(trials[0], 5, "a", 102), (trials[1], 10, "b", 102)])
        _ = try store.lease(trial: trials[2].id!, worker: "w", token: "c", deadline: 1000, now: 100)
        _ = try store.report(token: "c", metrics: metrics(1), objective: 1, minimize: true, deadline: 1000, now: 101)
        _ = try store.fail(token: "c", error: "boom", retryable: false, maxAttempts: 1, now: 102)
        let (_, otherTrials) = try makeSweep(store, name: "elsewhere", trials: 1, target: "z")
        try Self.complete(store, [(otherTrials[0], 1, "d", 102)])

        let paces = try store.epochPaces(dataset: "elsewhere/d.csv", target: "y")
        #expect(paces.map(\.epochs) == [5, 10])
        #expect(zip(paces.map(\.seconds), [0.5, 1.0]).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(paces.map(\.config) == [TrialConfig(["units": .int(1)]), TrialConfig(["units": .int(2)])])
        #expect(paces.allSatisfy { $0.plan == RunPlan(kind: .scoring, fold: nil, seedIndex: 0) && $0.spec.task.target == "y" })
        #expect(try store.epochPaces(dataset: "d.csv", target: "z").map(\.epochs) == [1])
        // By content when the sweep knows its dataset's hash: another file of the same name is not the task.
        let sha = String(repeating: "a", count: 64)
        var definition = try store.sweep(named: "elsewhere").definitionJson
        definition.datasetSHA256 = sha
        try store.write { db in
            try db.execute(sql: "UPDATE sweeps SET definition_json = ? WHERE name = 'elsewhere'", arguments: [try definition.jsonString()])
        }
        #expect(try store.epochPaces(dataset: "d.csv", sha256: sha, target: "z").count == 1)
        #expect(try store.epochPaces(dataset: "d.csv", sha256: String(repeating: "b", count: 64), target: "z").isEmpty)
    }
}
