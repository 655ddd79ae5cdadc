import Foundation
import RecurAPI
import RecurEngine
import RecurForecast
import RecurStore
import RecurSweep
import Testing

@testable import RecurCoordinator

/// A sweep scored over rolling-origin folds × seeds, refit and confirmed, driven through the
/// coordinator with real training on a synthetic series; every number is checked against the
/// runs the test trained itself.
@Suite struct RobustSelectionTests {
    /// A daily cycle on a slow trend, hourly, with a second column.
    static let dataset: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-robust-\(UUID().uuidString).csv")
        var text = "timestamp,y,c\n"
        for i in 0..<1200 {
            let y = 10 + 5 * sin(Double(i) * 2 * .pi / 24) + Double(i) / 200 + 0.3 * sin(Double(i) * 0.37)
            text += "\(Timestamp.format(978_307_200 + Int64(i) * 3600)),\(y),\(cos(Double(i) * 2 * .pi / 24))\n"
        }
        try! Data(text.utf8).write(to: url)
        return url
    }()

    static func yaml(confirm: Bool = true, refit: Bool = true) -> String {
        """
        name: robust
        task: {dataset: \(dataset.path), target: y, features: [y, c], sequence_length: 12, horizon: 3}
        search: {method: random, seed: 3, max_trials: 2, max_parallel: 3}
        space:
          units: {choice: [4, 8]}
          cell: gru
        training: {epochs: 4, batch_size: 64, early_stopping: {patience: 1}}
        evaluation: {folds: {method: rolling_origin, count: 3}, seeds: 2, refit: \(refit)\(confirm ? ", confirm: {top_k: 1, seeds: 1}" : "")}
        workers: {engine: any}
        """
    }

    /// What the test's worker did for one lease.
    struct Trained {
        var lease: API.Lease
        var result: TrainingResult
    }

    /// Trains one lease as a worker would — the run's rows, the lease's model and settings — on
    /// a thread of its own: training on the cooperative pool would stall every other test.
    static func train(_ lease: API.Lease) async throws -> TrainingResult {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try trainNow(lease) }) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    static func trainNow(_ lease: API.Lease) throws -> TrainingResult {
        let layout: SplitLayout =
            lease.run.kind == .refit ? .refit : lease.run.fold.map { .fold(index: $0, count: lease.run.folds) } ?? .task
        let task = try PreparedTask.load(lease.task, layout: layout)
        return try Trainer(task: task, spec: lease.model, settings: lease.training).run()
    }

    /// Leases, trains, reports and completes until the coordinator says done; `restartAfter`
    /// leases in, the coordinator is rebuilt from its store.
    static func drive(_ coordinator: Coordinator, restartAfter: Int? = nil) async throws -> (Coordinator, [Trained]) {
        var coordinator = coordinator
        var worker = try await coordinator.register(
            API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion, trainsRuns: true)
        )
        var done: [Trained] = []
        while true {
            let answer = try await coordinator.lease(worker: worker.workerId, sweep: "robust")
            guard let lease = answer.lease else {
                #expect(answer.status == .done)
                return (coordinator, done)
            }
            let result = try await train(lease)
            if lease.run.kind == .scoring {
                for e in result.history {
                    _ = try await coordinator.report(
                        token: lease.token,
                        API.EpochReport(epoch: e.epoch, trainLoss: e.trainLoss, valLoss: e.valLoss, valMae: e.valMAE, seconds: e.seconds)
                    )
                }
            }
            let validated = result.valMAE.isFinite
            _ = try await coordinator.complete(
                token: lease.token,
                API.CompleteRequest(
                    valMae: validated ? result.valMAE : nil,
                    valLoss: validated ? result.history[result.bestEpoch - 1].valLoss : nil,
                    testMae: result.testMAE,
                    bestEpoch: result.bestEpoch,
                    epochsRun: result.epochsRun
                )
            )
            done.append(Trained(lease: lease, result: result))
            if done.count == restartAfter {
                coordinator = try Coordinator(store: coordinator.store, leaseSeconds: 30, datasetDirectory: RouterTests.root)
                worker = try await coordinator.register(
                    API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion, trainsRuns: true)
                )
            }
        }
    }

    @Test func aTrialIsItsFoldsTimesSeedsThenRefitsAndTheTopOneIsConfirmed() async throws {
        let (_, fresh) = try RouterTests.app()
        _ = try await fresh.createSweep(yaml: Self.yaml())
        let (coordinator, trained) = try await Self.drive(fresh)
        let byTrial = Dictionary(grouping: trained, by: \.lease.trialNumber)
        #expect(byTrial.keys.sorted() == [0, 1])
        let rows = try coordinator.leaderboard(sweep: "robust")
        #expect(rows.count == 2 && rows[0].confirmed == true && rows[1].confirmed == false)
        for row in rows {
            let runs = try #require(byTrial[row.trial])
            let scoring = runs.filter { $0.lease.run.kind == .scoring }
            let refits = runs.filter { $0.lease.run.kind == .refit }
            let confirmed = row.confirmed == true
            // 3 folds × 2 seeds, plus 3 folds × 1 seed when confirmed; one refit per seed.
            #expect(scoring.count == (confirmed ? 9 : 6) && refits.count == (confirmed ? 3 : 2) && row.runs == scoring.count)
            #expect(Set(scoring.map { "\($0.lease.run.fold!)/\($0.lease.run.seedIndex)" }).count == scoring.count)
            // Every fold of a seed trains with one seed, and seeds differ.
            let seeds = Dictionary(grouping: scoring, by: \.lease.run.seedIndex).mapValues { Set($0.map(\.lease.training.seed)) }
            #expect(seeds.values.allSatisfy { $0.count == 1 } && Set(seeds.values.map(\.first!)).count == seeds.count)
            // The score: mean, sd and t interval of what the runs reported.
            let summary = try #require(ScoreSummary(scoring.map(\.result.valMAE)))
            #expect(abs(row.valMae! - summary.mean) < 1e-9 && abs(row.valMaeSd! - summary.sd!) < 1e-9)
            #expect(abs(row.valMaeCi95![0] - summary.ci95!.low) < 1e-9 && abs(row.valMaeCi95![1] - summary.ci95!.high) < 1e-9)
            // The refits: all pre-test rows, no early stopping, the median best epoch of the search's runs.
            let searchEpochs = scoring.filter { !$0.lease.run.confirmation }.map(\.result.bestEpoch)
            for refit in refits where !refit.lease.run.confirmation {
                #expect(refit.lease.training.epochs == RunPlan.refitEpochs(bestEpochs: searchEpochs))
                #expect(refit.lease.training.earlyStopping == nil && refit.result.epochsRun == refit.lease.training.epochs)
            }
            // The test score is the refits' mean.
            let test = refits.map(\.result.testMAE).reduce(0, +) / Double(refits.count)
            #expect(abs(row.testMae! - test) < 1e-9)
        }
        // The right answer, trained apart from the coordinator: fold 2 of seed 1 of trial 0, with
        // the rows and seed the design prescribes, gives exactly the value the coordinator stored.
        let spec = try SweepSpec.parse(yaml: Self.yaml())
        var task = spec.task
        task.datasetSHA256 = nil
        let config = try #require(byTrial[0]?.first?.lease.config)
        let seed = spec.search.seed &+ 0 &* 7919 &+ 1 &* 104_729
        let plan = try spec.trainingPlan(for: config, features: 2, seed: seed)
        let own = try Trainer(task: PreparedTask.load(task, layout: .fold(index: 2, count: 3)), spec: plan.model, settings: plan.settings).run()
        let detail = try coordinator.trial(id: try #require(rows.first { $0.trial == 0 }?.trialId))
        let stored = try #require(detail.runs?.first { $0.kind == .scoring && $0.fold == 2 && $0.seedIndex == 1 })
        #expect(stored.valMae == own.valMAE && stored.bestEpoch == own.bestEpoch)
        #expect(detail.metrics.contains { $0.run == stored.number })
        // Skill compares with persistence on the folds' own validation rows.
        let summary = try coordinator.summary(named: "robust")
        #expect(summary.persistenceValMae != nil && summary.bestTrial == rows[0].trial)
    }

    /// A worker from before runs would train every fold on the task's split: it gets none of a
    /// sweep with folds or refits (skipped, or 409 when it names the sweep), and still gets plain sweeps.
    @Test func aWorkerFromBeforeRunsGetsNoRuns() async throws {
        let (_, coordinator) = try RouterTests.app()
        _ = try await coordinator.createSweep(yaml: Self.yaml())
        let old = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let answer = try await coordinator.lease(worker: old.workerId, sweep: nil)
        #expect(answer.lease == nil && answer.status == .done && answer.incompatible?.map(\.sweep) == ["robust"])
        await #expect(throws: APIFailure.self) { try await coordinator.lease(worker: old.workerId, sweep: "robust") }
        let new = try await coordinator.register(
            API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion, trainsRuns: true)
        )
        #expect(try await coordinator.lease(worker: new.workerId, sweep: nil).lease?.run.fold == 1)
    }

    /// A coordinator restarted halfway rebuilds its runs from the store and finishes the sweep
    /// as the first would have: same trials, same runs, same scores.
    @Test func aRestartedCoordinatorFinishesTheRunsItFound() async throws {
        let (_, first) = try RouterTests.app()
        _ = try await first.createSweep(yaml: Self.yaml(confirm: true, refit: false))
        let (straight, _) = try await Self.drive(first)
        let (_, second) = try RouterTests.app()
        _ = try await second.createSweep(yaml: Self.yaml(confirm: true, refit: false))
        let (restarted, trained) = try await Self.drive(second, restartAfter: 7)
        let a = try straight.leaderboard(sweep: "robust")
        let b = try restarted.leaderboard(sweep: "robust")
        #expect(a.map(\.trial) == b.map(\.trial) && a.map(\.valMae) == b.map(\.valMae) && a.map(\.testMae) == b.map(\.testMae))
        #expect(b.map(\.runs) == [9, 6] && trained.count == 15)
        // Without refits the test score is the last fold's runs' mean.
        for row in b {
            let detail = try restarted.trial(id: row.trialId)
            let last = (detail.runs ?? []).filter { $0.fold == 3 }.compactMap(\.testMae)
            #expect(abs(row.testMae! - last.reduce(0, +) / Double(last.count)) < 1e-9)
        }
    }
}

/// The dashboard shows a robust sweep's uncertainty: intervals in the leaderboard, error bars,
/// the confirmed mark, and each trial's runs.
@Suite struct RobustDashboardTests {
    @Test func errorBarsIntervalsAndRunsAreDrawn() async throws {
        let (_, fresh) = try RouterTests.app()
        _ = try await fresh.createSweep(yaml: RobustSelectionTests.yaml())
        let (coordinator, _) = try await RobustSelectionTests.drive(fresh)
        let html = try Dashboard.sweep(store: coordinator.store, name: "robust")
        let rows = try coordinator.leaderboard(sweep: "robust")
        let ci = try #require(rows[0].valMaeCi95)
        #expect(html.contains(String(format: "%.3f ± %.3f", rows[0].valMae!, (ci[1] - ci[0]) / 2)))
        #expect(html.contains("id=\"intervals\"") && html.components(separatedBy: "class=\"errorbar\"").count == 3)
        #expect(html.contains("class=\"score confirmed\"") && html.contains("class=\"confirmed\""))
        let page = try Dashboard.trial(store: coordinator.store, id: rows[0].trialId)
        #expect(page.contains("id=\"runs\"") && page.contains("refit (") && page.contains("2 of 3") && page.contains("confirmation"))
        #expect(page.contains("95 % interval ["))
    }

    /// One outlying trial does not flatten the error bars: the y-range is clipped like the curves'.
    @Test func intervalsClipAnOutlier() {
        let items = (0..<20).map { (label: "\($0)", mean: 2.0 + Double($0) * 0.01, low: 1.9 as Double?, high: 2.3 as Double?, confirmed: false) }
        let svg = SVGPlots.intervals(items + [(label: "x", mean: 9.98, low: 9.0, high: 11.0, confirmed: false)])
        let tick = "text-anchor=\"end\" font-size=\"10\">"
        #expect(svg.contains(tick + "2.4<") && !svg.contains(tick + "11<"), "the value axis stays near the useful range")
    }
}

/// Without `evaluation:` a trial is one run on the task's split, as before runs existed: the
/// trial's seed, its best value epoch by epoch, a lost lease sending it back to pending, its test
/// score from the run itself.
@Suite struct OneRunTrialTests {
    @Test func aSweepWithoutEvaluationLeasesOneRunPerTrialAsBefore() async throws {
        let (_, coordinator) = try RouterTests.app()
        let yaml = RobustSelectionTests.yaml().components(separatedBy: "\n").filter { !$0.hasPrefix("evaluation:") }.joined(separator: "\n")
        _ = try await coordinator.createSweep(yaml: yaml)
        let spec = try SweepSpec.parse(yaml: yaml)
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: "robust").lease)
        #expect(lease.run.number == 1 && lease.run.kind == .scoring && lease.run.fold == nil && lease.run.folds == 1 && lease.run.seedIndex == 0)
        #expect(lease.training.seed == spec.search.seed &+ UInt64(lease.trialNumber) &* 7919, "the trial's seed, as before runs")
        _ = try await coordinator.report(token: lease.token, API.EpochReport(epoch: 1, trainLoss: 1, valLoss: 1, valMae: 3, seconds: 0.1))
        #expect(try coordinator.store.trial(id: lease.trialId).bestValMetric == 3, "the trial's best follows its epochs")
        let second = try #require(try await coordinator.lease(worker: worker.workerId, sweep: "robust").lease)
        #expect(second.trialNumber == 1, "a second lease samples a new trial")
        _ = try await coordinator.release(token: lease.token)
        let trial = try coordinator.store.trial(id: lease.trialId)
        #expect(trial.state == .pending && trial.bestValMetric == nil)
        let again = try #require(try await coordinator.lease(worker: worker.workerId, sweep: "robust").lease)
        #expect(again.trialNumber == lease.trialNumber && again.attempt == 2 && again.run.number == 1)
        _ = try await coordinator.complete(token: again.token, API.CompleteRequest(valMae: 2, valLoss: 1, testMae: 4, bestEpoch: 1, epochsRun: 1))
        let row = try #require(try coordinator.leaderboard(sweep: "robust").first)
        #expect(row.valMae == 2 && row.testMae == 4 && row.runs == 1 && row.valMaeSd == nil && row.valMaeCi95 == nil && row.confirmed == false)
        #expect(try coordinator.store.runs(trial: lease.trialId).count == 1)
    }
}
