import Foundation
import GRDB
import RecurSweep

/// Runs: how a trial's state and score follow from its runs (folds × seeds, refits,
/// confirmation). Every function runs inside the caller's transaction.
extension SweepStore {
    /// Inserts pending runs after the trial's last one; returns them.
    static func insertRuns(_ db: Database, trial: Int64, _ plans: [RunPlan], now: Double) throws -> [RunRecord] {
        var number = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(number), 0) FROM runs WHERE trial_id = ?", arguments: [trial]) ?? 0
        var out: [RunRecord] = []
        for plan in plans {
            number += 1
            var run = RunRecord(
                id: nil,
                trialId: trial,
                number: number,
                kind: plan.kind,
                fold: plan.fold,
                seedIndex: plan.seedIndex,
                confirmation: plan.confirmation,
                epochs: plan.epochs,
                state: .pending,
                bestValMetric: nil,
                bestEpoch: nil,
                testMetric: nil,
                createdAt: now,
                startedAt: nil,
                finishedAt: nil
            )
            try run.insert(db)
            out.append(run)
        }
        return out
    }

    /// What settling a trial did.
    struct Settlement {
        var trial: TrialRecord
        var added: [RunRecord]
        var closed: Bool
    }

    /// Brings trial `id` in line with its runs:
    /// - a failed run fails the trial and a pruned one prunes it; their pending runs are cancelled;
    /// - when every scoring run succeeded, the trial's score is their mean (with sd, n and a 95 %
    ///   interval), refits are added for seeds that lack one, and once those succeed too the trial
    ///   completes with its test score: the refits' mean test MAE, or without refits the mean over
    ///   the last fold's runs;
    /// - otherwise it is running while any run runs or succeeded, else pending (a one-run trial
    ///   whose lease was lost goes back to pending, as before runs existed).
    /// A completed trial settles again as its confirmation runs end, and is `confirmed` when they
    /// all succeeded.
    static func settle(_ db: Database, trial id: Int64, evaluation: SweepSpec.Evaluation, now: Double) throws -> Settlement {
        guard var trial = try TrialRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.trial, "no trial with id \(id)") }
        var runs = try RunRecord.filter(Column("trial_id") == id).order(Column("number")).fetchAll(db)
        var added: [RunRecord] = []
        var closed = false
        let scoring = runs.filter { $0.kind == .scoring }
        let allScored = !scoring.isEmpty && scoring.allSatisfy { $0.state == .succeeded }

        func addRefits() throws {
            guard evaluation.refits, allScored else { return }
            let refitted = Set(runs.filter { $0.kind == .refit }.map(\.seedIndex))
            let seeds = Set(scoring.map(\.seedIndex)).subtracting(refitted).sorted()
            guard !seeds.isEmpty else { return }
            let epochs = RunPlan.refitEpochs(bestEpochs: scoring.compactMap(\.bestEpoch))
            let plans = seeds.map { seed in
                RunPlan(
                    kind: .refit,
                    fold: nil,
                    seedIndex: seed,
                    confirmation: scoring.contains { $0.seedIndex == seed && $0.confirmation },
                    epochs: epochs
                )
            }
            added = try insertRuns(db, trial: id, plans, now: now)
            runs += added
        }

        switch trial.state {
        case .pending, .running:
            // A failed refit does not undo a finished score (the test score falls back, see `score`).
            let failed = runs.contains { $0.kind == .scoring && $0.state == .failed }
            if failed || runs.contains(where: { $0.state == .pruned }) {
                trial.state = failed ? .failed : .pruned
                trial.finishedAt = now
                // A closed trial has no score over its runs, only what TPE learns from: the best value
                // a pruned run reached (objectives are errors, always minimized).
                (trial.valSd, trial.valRuns, trial.valCiLow, trial.valCiHigh) = (nil, nil, nil, nil)
                trial.testMetric = runs.count == 1 ? runs[0].testMetric : nil
                if failed {
                    trial.bestValMetric = nil
                    trial.bestEpoch = nil
                } else {
                    let pruned = runs.filter { $0.state == .pruned }
                    trial.bestValMetric = pruned.compactMap(\.bestValMetric).min() ?? trial.bestValMetric
                    trial.bestEpoch = pruned.first { $0.bestValMetric == trial.bestValMetric }?.bestEpoch ?? trial.bestEpoch
                }
                try db.execute(
                    sql: "UPDATE runs SET state = 'cancelled', finished_at = ? WHERE trial_id = ? AND state = 'pending'",
                    arguments: [now, id]
                )
                closed = true
            } else if allScored {
                try addRefits()
                score(&trial, runs: runs, evaluation: evaluation)
                if runs.allSatisfy(\.isSettled) {
                    trial.state = .completed
                    trial.finishedAt = now
                } else {
                    trial.state = .running
                }
            } else {
                let started = runs.contains { $0.state == .running || $0.state == .succeeded }
                trial.state = started ? .running : .pending
                trial.finishedAt = nil
                if runs.count == 1 {
                    // A one-run trial's best follows its run (reset when the run starts over).
                    trial.bestValMetric = runs[0].bestValMetric
                    trial.bestEpoch = runs[0].bestEpoch
                } else {
                    score(&trial, runs: runs, evaluation: evaluation)
                }
            }
        case .completed:
            try addRefits()
            if !runs.contains(where: { $0.state == .pending || $0.state == .running }) {
                // Confirmed when every confirmation run settled; a failed one leaves the search's score.
                let confirmation = runs.filter(\.confirmation)
                trial.confirmed = !confirmation.isEmpty && confirmation.allSatisfy(\.isSettled)
                score(&trial, runs: trial.confirmed ? runs : runs.filter { !$0.confirmation }, evaluation: evaluation)
            }
        case .pruned, .failed:
            // A run of a closed trial that was handed back (released, lost, retryable failure) is not run again.
            try db.execute(
                sql: "UPDATE runs SET state = 'cancelled', finished_at = ? WHERE trial_id = ? AND state = 'pending'",
                arguments: [now, id]
            )
        }
        try trial.update(db)
        return Settlement(trial: trial, added: added, closed: closed)
    }

    /// The trial's score from its succeeded runs: mean, sd, n and interval of the scoring runs'
    /// objective, best epoch as their median, and the test score (refits' mean, else the last
    /// fold's).
    static func score(_ trial: inout TrialRecord, runs: [RunRecord], evaluation: SweepSpec.Evaluation) {
        let scored = runs.filter { $0.kind == .scoring && $0.state == .succeeded }
        guard let summary = ScoreSummary(scored.compactMap(\.bestValMetric)) else {
            (trial.bestValMetric, trial.bestEpoch, trial.valSd, trial.valRuns, trial.valCiLow, trial.valCiHigh) = (nil, nil, nil, nil, nil, nil)
            return
        }
        trial.bestValMetric = summary.mean
        trial.valSd = summary.sd
        trial.valRuns = summary.n
        trial.valCiLow = summary.ci95?.low
        trial.valCiHigh = summary.ci95?.high
        trial.bestEpoch = RunPlan.refitEpochs(bestEpochs: scored.compactMap(\.bestEpoch))
        let refits = runs.filter { $0.kind == .refit && $0.state == .succeeded }.compactMap(\.testMetric)
        let lastFold = evaluation.foldMethod == .none ? nil : evaluation.foldCount
        let fromFolds = scored.filter { $0.fold == lastFold }.compactMap(\.testMetric)
        // Refits whose every attempt failed leave the last fold's models to score the test.
        let tests = evaluation.refits && !refits.isEmpty ? refits : fromFolds
        trial.testMetric = tests.isEmpty ? nil : tests.reduce(0, +) / Double(tests.count)
    }

    /// Whether `sweep` has had its top-K confirmation (runs were added).
    public func confirmationStarted(sweep: Int64) throws -> Bool {
        try read { db in try SweepStore.confirmationStarted(db, sweep: sweep) }
    }

    static func confirmationStarted(_ db: Database, sweep: Int64) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: "SELECT EXISTS (SELECT 1 FROM runs JOIN trials ON trials.id = runs.trial_id WHERE trials.sweep_id = ? AND runs.confirmation = 1)",
            arguments: [sweep]
        ) ?? false
    }

    /// Adds the top-K confirmation runs once: `confirm.seeds` more seeds on every fold for the
    /// `confirm.top_k` best completed trials. Returns the runs added with their trial numbers
    /// (none when confirmation was added before or no trial completed).
    public func addConfirmationRuns(sweep: Int64, evaluation: SweepSpec.Evaluation, now: Double) throws -> [(trialNumber: Int, run: RunRecord)] {
        guard let confirm = evaluation.confirm else { return [] }
        return try write { db in
            guard try !SweepStore.confirmationStarted(db, sweep: sweep) else { return [] }
            let top = try TrialRecord.fetchAll(
                db,
                sql: """
                    SELECT * FROM trials WHERE sweep_id = ? AND state = 'completed' AND best_val_metric IS NOT NULL
                    ORDER BY best_val_metric, number LIMIT ?
                    """,
                arguments: [sweep, confirm.topK]
            )
            var out: [(Int, RunRecord)] = []
            let seeds = evaluation.seeds..<(evaluation.seeds + confirm.seeds)
            for trial in top {
                let runs = try SweepStore.insertRuns(db, trial: trial.id!, evaluation.scoringRuns(seeds: seeds, confirmation: true), now: now)
                out += runs.map { (trial.number, $0) }
            }
            try SweepStore.event(
                db,
                "confirmation_started",
                sweep: sweep,
                detail: ["trials": top.map(\.number), "seeds": confirm.seeds, "runs": out.count],
                now: now
            )
            return out
        }
    }
}

extension RunRecord {
    /// Done for good as far as its trial's completion goes: succeeded, or a refit that failed
    /// (its trial keeps its score and takes its test score from the last fold).
    var isSettled: Bool { state == .succeeded || (kind == .refit && state == .failed) }
}
