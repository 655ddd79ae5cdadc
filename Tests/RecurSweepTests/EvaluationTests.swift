import Foundation
import RecurForecast
import Testing

@testable import RecurSweep

/// `evaluation:` in sweep files, the statistics of a trial's runs, and how the scheduler hands
/// out, prunes and confirms runs.
@Suite struct EvaluationTests {
    static func spec(_ evaluation: String, pruning: String = "{method: none}", trials: Int = 6, parallel: Int = 4) throws -> SweepSpec {
        try SweepSpec.parse(
            yaml: """
                name: s
                task: {dataset: d.csv, target: y}
                search: {method: random, seed: 5, max_trials: \(trials), max_parallel: \(parallel)}
                space:
                  units: {int: [4, 64]}
                training: {epochs: 6}
                pruning: \(pruning)
                \(evaluation)
                """
        )
    }

    @Test func evaluationParsesAndRoundTripsThroughTheStoredDefinition() throws {
        let spec = try Self.spec("evaluation: {folds: {method: rolling_origin, count: 3}, seeds: 2, confirm: {top_k: 4, seeds: 3}}")
        let e = spec.evaluation
        #expect(e.foldMethod == .rollingOrigin && e.folds == 3 && e.seeds == 2 && e.refits && e.runsPerTrial == 6)
        #expect(e.confirm == .init(topK: 4, seeds: 3))
        let stored = try SweepDefinition.decode(json: SweepDefinition(spec: spec, datasetSHA256: nil, features: 1).jsonString())
        #expect(stored.spec == spec)
        // Without evaluation: one run on the task's split, no refit, and the stored text is as before.
        let plain = try Self.spec("")
        #expect(plain.evaluation == .init() && plain.evaluation.runsPerTrial == 1 && !plain.evaluation.refits)
        #expect(!(try SweepDefinition(spec: plain, datasetSHA256: nil, features: 1).jsonString().contains("evaluation")))
        #expect(try Self.spec("evaluation: {folds: none, seeds: 1}").evaluation == .init())
        #expect(try Self.spec("evaluation: {seeds: 3, refit: true}").evaluation.refits)
    }

    @Test(arguments: [
        ("evaluation: {folds: {method: kfold, count: 3}}", "evaluation.folds.method: expected rolling_origin or none"),
        ("evaluation: {folds: {method: rolling_origin}}", "evaluation.folds.count: missing; give the number of rolling-origin folds, e.g. count: 3"),
        ("evaluation: {folds: {method: rolling_origin, count: 1}}", "evaluation.folds.count: 1 must be ≥ 2"),
        ("evaluation: {seeds: 0}", "evaluation.seeds: 0 must be ≥ 1"),
        ("evaluation: {refit: maybe}", "evaluation.refit: expected true or false"),
        (
            "evaluation: {confirm: {top_k: 3}}",
            "evaluation.confirm: expected top_k (configurations to confirm) and seeds (extra seeds each), e.g. {top_k: 3, seeds: 2}"
        ),
        ("evaluation: {repeats: 3}", "evaluation.repeats: unknown key; allowed: folds, seeds, refit, confirm"),
    ])
    func badEvaluationsNameTheirField(yaml: String, problem: String) throws {
        #expect(throws: SweepSpecError.self) { try Self.spec(yaml) }
        do { _ = try Self.spec(yaml) } catch let error as SweepSpecError { #expect(error.problems.contains(problem), "\(error.problems)") }
    }

    @Test func aValLossObjectiveIsRefusedWithFolds() throws {
        do {
            _ = try SweepSpec.parse(
                yaml: """
                    name: s
                    task: {dataset: d.csv, target: y}
                    objective: {metric: val_loss}
                    space: {units: 4}
                    evaluation: {folds: {method: rolling_origin, count: 2}}
                    """
            )
            Issue.record("accepted")
        } catch let error as SweepSpecError {
            #expect(error.problems.contains { $0.hasPrefix("objective.metric: val_loss is in each fold's standardized units") }, "\(error.problems)")
        }
    }

    /// Mean, sample sd and Student's t interval, checked against hand-worked values.
    @Test func scoreSummariesMatchHandWorkedNumbers() throws {
        let s = try #require(ScoreSummary([2, 4, 4, 4, 5, 5, 7, 9]))
        #expect(s.mean == 5 && s.n == 8)
        #expect(abs(s.sd! - (32.0 / 7).squareRoot()) < 1e-12)
        let half = 2.365 * (32.0 / 7).squareRoot() / 8.0.squareRoot()
        #expect(abs(s.ci95!.low - (5 - half)) < 1e-12 && abs(s.ci95!.high - (5 + half)) < 1e-12)
        let one = try #require(ScoreSummary([3]))
        #expect(one.mean == 3 && one.sd == nil && one.ci95 == nil)
        #expect(ScoreSummary([]) == nil && ScoreSummary([.nan]) == nil)
        // Past the table, within 0.001 of the exact quantiles (t(40) = 2.0211, t(120) = 1.9799).
        #expect(abs(ScoreSummary.t975(degreesOfFreedom: 40) - 2.0211) < 0.001)
        #expect(abs(ScoreSummary.t975(degreesOfFreedom: 120) - 1.9799) < 0.001)
        #expect(RunPlan.refitEpochs(bestEpochs: [2, 3, 5, 4]) == 4 && RunPlan.refitEpochs(bestEpochs: [7, 1, 3]) == 3)
    }

    /// Runs of a started trial go before a new trial, lowest trial then run first: one trial's
    /// runs spread over the free slots.
    @Test func aTrialsRunsSpreadOverTheSlotsBeforeTheNextTrial() throws {
        let spec = try Self.spec("evaluation: {folds: {method: rolling_origin, count: 2}, seeds: 2}", parallel: 3)
        let scheduler = SweepScheduler(spec: spec)
        guard case .new(0, _, _) = scheduler.next() else {
            Issue.record("expected trial 0")
            return
        }
        scheduler.started()
        let runs = spec.evaluation.scoringRuns(seeds: 0..<2).enumerated().map { i, plan in
            SweepScheduler.RunRef(runId: Int64(i + 1), trial: 0, run: i + 1, plan: plan)
        }
        scheduler.add(Array(runs.dropFirst()))
        #expect(scheduler.next() == .run(runs[1]))
        scheduler.started()
        #expect(scheduler.next() == .run(runs[2]))
        scheduler.started()
        #expect(scheduler.next() == nil, "max_parallel 3")
        scheduler.ended(runs[0], .succeeded)
        #expect(scheduler.next() == .run(runs[3]))
        scheduler.started()
        scheduler.ended(runs[1], .succeeded)
        guard case .new(1, _, _) = scheduler.next() else {
            Issue.record("expected trial 1 once trial 0's runs are all out")
            return
        }
        // Seeds: index 0 is the trial's own seed; every fold of a seed index shares it.
        #expect(scheduler.seed(forTrial: 3, seedIndex: 0) == scheduler.seed(forTrial: 3))
        #expect(scheduler.seed(forTrial: 3, seedIndex: 1) != scheduler.seed(forTrial: 3))
    }

    /// Median pruning compares a run with runs on the same fold at the same epoch: fold 2's
    /// larger errors do not prune a run that is good for fold 2.
    @Test func pruningComparesRunsOnTheSameFold() throws {
        let spec = try Self.spec(
            "evaluation: {folds: {method: rolling_origin, count: 2}, seeds: 1}",
            pruning: "{method: median, warmup: 0, min_trials: 2}",
            trials: 10,
            parallel: 10
        )
        let scheduler = SweepScheduler(spec: spec)
        func ref(_ trial: Int, fold: Int) -> SweepScheduler.RunRef {
            SweepScheduler.RunRef(runId: Int64(trial * 10 + fold), trial: trial, run: fold, plan: RunPlan(kind: .scoring, fold: fold, seedIndex: 0))
        }
        // Fold 1 is easy (errors near 1), fold 2 hard (errors near 5); these runs completed.
        for t in 0..<3 {
            for (fold, base) in [(1, 1.0), (2, 5.0)] {
                _ = scheduler.report(ref(t, fold: fold), epoch: 1, value: base + Double(t) * 0.1)
                scheduler.ended(ref(t, fold: fold), .succeeded)
            }
        }
        #expect(!scheduler.report(ref(3, fold: 2), epoch: 1, value: 4.9).prune, "4.9 is the best on fold 2")
        let decision = scheduler.report(ref(4, fold: 1), epoch: 1, value: 2)
        #expect(decision.prune, "2 is the worst on fold 1: \(decision)")
        // Refits and confirmation runs are never pruned.
        let refit = SweepScheduler.RunRef(runId: 99, trial: 5, run: 3, plan: RunPlan(kind: .refit, fold: nil, seedIndex: 0, epochs: 3))
        #expect(!scheduler.report(refit, epoch: 1, value: 100).prune)
    }

    /// A trial's own runs never prune each other: ASHA keeps the best of each rung, and the
    /// first trial's second seed, worse than its first, is compared with no one yet.
    @Test func aTrialsSeedsDoNotCompeteWithEachOther() throws {
        let spec = try Self.spec(
            "evaluation: {folds: {method: rolling_origin, count: 2}, seeds: 2}",
            pruning: "{method: asha, min_epochs: 1, reduction_factor: 3}",
            parallel: 8
        )
        let scheduler = SweepScheduler(spec: spec)
        func ref(_ trial: Int, seed: Int) -> SweepScheduler.RunRef {
            SweepScheduler.RunRef(
                runId: Int64(trial * 10 + seed),
                trial: trial,
                run: seed + 1,
                plan: RunPlan(kind: .scoring, fold: 1, seedIndex: seed)
            )
        }
        #expect(!scheduler.report(ref(0, seed: 0), epoch: 1, value: 1).prune)
        #expect(!scheduler.report(ref(0, seed: 1), epoch: 1, value: 5).prune, "its own first seed is not its competitor")
        #expect(scheduler.report(ref(1, seed: 1), epoch: 1, value: 6).prune, "trial 1's seed 1 is compared with trial 0's seed 1")
    }

    /// A closed trial's waiting runs are dropped; confirmation comes once the search is idle.
    @Test func closedTrialsLeaseNothingAndConfirmationComesLast() throws {
        let spec = try Self.spec("evaluation: {seeds: 2, confirm: {top_k: 1, seeds: 1}}", trials: 1, parallel: 2)
        let scheduler = SweepScheduler(spec: spec)
        guard case .new(0, _, _) = scheduler.next() else {
            Issue.record("expected trial 0")
            return
        }
        scheduler.started()
        let first = SweepScheduler.RunRef(runId: 1, trial: 0, run: 1, plan: RunPlan(kind: .scoring, fold: nil, seedIndex: 0))
        let second = SweepScheduler.RunRef(runId: 2, trial: 0, run: 2, plan: RunPlan(kind: .scoring, fold: nil, seedIndex: 1))
        scheduler.add([second])
        scheduler.ended(first, .pruned)
        scheduler.close(trial: 0)
        #expect(scheduler.closed == [0] && scheduler.pending.isEmpty)
        #expect(scheduler.next() == nil && !scheduler.isFinished && scheduler.needsConfirmation)
        scheduler.confirmationStarted()
        #expect(scheduler.isFinished)
    }

    /// Confirmation runs are known at once: the priciest trial's go first; scoring runs keep
    /// trial and run order.
    @Test func confirmationRunsGoPriciestFirst() throws {
        let spec = try Self.spec("evaluation: {seeds: 1, confirm: {top_k: 3, seeds: 1}}", trials: 3, parallel: 4)
        let scheduler = SweepScheduler(spec: spec)
        let plan = RunPlan(kind: .scoring, fold: nil, seedIndex: 1, confirmation: true)
        scheduler.add([
            .init(runId: 10, trial: 0, run: 2, plan: plan, cost: 5),
            .init(runId: 11, trial: 1, run: 2, plan: plan, cost: 50),
            .init(runId: 12, trial: 2, run: 2, plan: plan, cost: 5),
        ])
        var order: [Int64] = []
        while case .run(let ref)? = scheduler.next() {
            scheduler.started()
            order.append(ref.runId)
        }
        #expect(order == [11, 10, 12])
    }
}
