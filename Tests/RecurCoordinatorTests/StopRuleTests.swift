import Foundation
import GRDB
import RecurAPI
import RecurEngine
import RecurStore
import RecurSweep
import Synchronization
import Testing

@testable import RecurCoordinator

/// Budgets and stop rules end a sweep before `max_trials`, with the reason stored and shown;
/// `on_stop` decides whether running trials finish or stop now. A clock the test moves.
@Suite struct StopRuleTests {
    final class Clock: Sendable {
        let now = Mutex<Double>(1000)
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
        var read: @Sendable () -> Double { { [self] in now.withLock { $0 } } }
    }

    static func yaml(_ search: String) -> String {
        RouterTests.sweepYAML.replacingOccurrences(of: "{method: random, seed: 1, max_trials: 2, max_parallel: 2}", with: search)
            .replacingOccurrences(of: "cell: {choice: [gru, lstm]}", with: "learning_rate: {float: [0.0001, 0.1], log: true}")
    }

    static func coordinator(_ search: String, store: SweepStore = try! SweepStore(), clock: Clock) async throws -> (Coordinator, String) {
        let coordinator = try Coordinator(store: store, leaseSeconds: 600, datasetDirectory: RouterTests.root, clock: clock.read)
        _ = try await coordinator.createSweep(yaml: yaml(search))
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 4, version: "t", engineVersion: BuildInfo.engineVersion))
        return (coordinator, worker.workerId)
    }

    static func lease(_ c: Coordinator, _ worker: String) async throws -> API.Lease? { try await c.lease(worker: worker, sweep: nil).lease }

    static func complete(_ c: Coordinator, _ lease: API.Lease, val: Double) async throws {
        _ = try await c.complete(token: lease.token, API.CompleteRequest(valMae: val, valLoss: val, testMae: val, bestEpoch: 1, epochsRun: 2))
    }

    @Test func aTargetReachedEndsTheSweep() async throws {
        let clock = Clock()
        let (c, w) = try await Self.coordinator("{method: random, seed: 1, max_trials: 10, max_parallel: 1, stop: {target: 2.0}}", clock: clock)
        try await Self.complete(c, try #require(try await Self.lease(c, w)), val: 3)
        #expect(try c.store.summary(named: "tiny").stopReason == nil)
        clock.advance(5)
        try await Self.complete(c, try #require(try await Self.lease(c, w)), val: 1.5)
        let s = try c.store.summary(named: "tiny")
        #expect(s.state == .done && s.completed == 2)
        #expect(s.stopReason == StopReason(rule: .target, message: "target reached: val MAE 1.5 ≤ 2 (trial 1)"))
        let next = try await c.lease(worker: w, sweep: nil)
        #expect(next.status == .done && next.lease == nil)
        let events = try c.store.events(sweep: try c.store.sweep(named: "tiny").id!).map(\.kind)
        #expect(events.contains("sweep_stopping") && events.contains("sweep_done"))
        let page = try Dashboard.sweep(store: c.store, name: "tiny")
        #expect(page.contains("Stopped: target reached: val MAE 1.5 ≤ 2 (trial 1)"))
        let api = API.SweepSummary(s)
        #expect(api.stopReason == API.StopReason(rule: .target, message: "target reached: val MAE 1.5 ≤ 2 (trial 1)"))
    }

    /// Resuming with another target gives the sweep another chance; other changes are refused.
    @Test func newRulesReopenASweepTheyEnded() async throws {
        let clock = Clock()
        let (c, w) = try await Self.coordinator("{method: random, seed: 1, max_trials: 10, max_parallel: 1, stop: {target: 2.0}}", clock: clock)
        try await Self.complete(c, try #require(try await Self.lease(c, w)), val: 1.5)
        #expect(try c.store.summary(named: "tiny").state == .done)
        _ = try await c.open(yaml: Self.yaml("{method: random, seed: 1, max_trials: 10, max_parallel: 1, stop: {target: 1.0}}"), source: "s")
        let s = try c.store.summary(named: "tiny")
        #expect(s.state == .running && s.stopReason == nil)
        #expect(try await Self.lease(c, w) != nil)
        await #expect(throws: SweepSpecError.self) {
            _ = try await c.open(yaml: Self.yaml("{method: random, seed: 2, max_trials: 10, max_parallel: 1, stop: {target: 1.0}}"), source: "s")
        }
    }

    @Test func noImprovementInNTrialsEndsTheSweep() async throws {
        let clock = Clock()
        let (c, w) = try await Self.coordinator(
            "{method: random, seed: 1, max_trials: 10, max_parallel: 1, stop: {no_improvement_trials: 2}}",
            clock: clock
        )
        for val in [3.0, 2.0, 2.5] {
            clock.advance(1)
            try await Self.complete(c, try #require(try await Self.lease(c, w)), val: val)
            #expect(try c.store.summary(named: "tiny").state == .running)
        }
        clock.advance(1)
        try await Self.complete(c, try #require(try await Self.lease(c, w)), val: 2.6)
        let s = try c.store.summary(named: "tiny")
        #expect(s.state == .done && s.completed == 4)
        #expect(s.stopReason?.message == "no improvement in 2 trials since trial 1 (no_improvement_trials: 2)")
    }

    /// `on_stop: finish`: past the wall budget nothing new is leased, the running trials report
    /// and complete, and the sweep is done after the last. A coordinator restarted meanwhile
    /// keeps finishing.
    @Test func aWallBudgetLetsRunningTrialsFinishAcrossARestart() async throws {
        let clock = Clock()
        let store = try SweepStore()
        let search = "{method: random, seed: 1, max_trials: 10, max_parallel: 2, budget: {wall_minutes: 1}, on_stop: finish}"
        let (c, w) = try await Self.coordinator(search, store: store, clock: clock)
        let a = try #require(try await Self.lease(c, w))
        let b = try #require(try await Self.lease(c, w))
        clock.advance(61)
        #expect(try await Self.lease(c, w) == nil)
        var s = try store.summary(named: "tiny")
        #expect(s.state == .running && s.stopReason?.rule == .wallMinutes && s.running == 2)
        #expect(s.stopReason?.message == "wall-time budget spent: 1.0 of 1 minutes")
        let answer = try await c.report(token: a.token, API.EpochReport(epoch: 1, trainLoss: 1, valLoss: 1, valMae: 1, seconds: 1))
        #expect(answer.action == ._continue)
        try await Self.complete(c, a, val: 1)
        #expect(try store.summary(named: "tiny").state == .running)

        let restarted = try Coordinator(store: store, leaseSeconds: 600, datasetDirectory: RouterTests.root, clock: clock.read)
        #expect(try await Self.lease(restarted, w) == nil)
        try await Self.complete(restarted, b, val: 2)
        s = try store.summary(named: "tiny")
        #expect(s.state == .done && s.completed == 2 && s.stopReason?.rule == .wallMinutes)
    }

    /// `on_stop: release`: the sweep is done as soon as the worker-hour budget is spent; the
    /// running trial is told to stop at its next report and its attempt is released, not failed.
    @Test func aWorkerHourBudgetWithReleaseStopsRunningTrials() async throws {
        let clock = Clock()
        let (c, w) = try await Self.coordinator(
            "{method: random, seed: 1, max_trials: 10, max_parallel: 2, budget: {worker_hours: 0.01}, on_stop: release}",
            clock: clock
        )
        let a = try #require(try await Self.lease(c, w))
        clock.advance(30)
        #expect(try await Self.lease(c, w) != nil, "30 s of 36 spent")
        clock.advance(4)  // 34 + 4 s = 38 s
        let next = try await c.lease(worker: w, sweep: nil)
        #expect(next.lease == nil && next.status == .done)
        let s = try c.store.summary(named: "tiny")
        #expect(s.state == .done && s.stopReason?.rule == .workerHours)
        let answer = try await c.report(token: a.token, API.EpochReport(epoch: 1, trainLoss: 1, valLoss: 1, valMae: 1, seconds: 1))
        #expect(answer.action == .stop)
        let states = try c.store.read { try String.fetchAll($0, sql: "SELECT state FROM attempts ORDER BY id") }
        #expect(states.first == "released")
    }

    @Test func budgetsAndStopRulesParseRoundTripAndNameTheirFields() throws {
        let spec = try SweepSpec.parse(
            yaml: """
                name: b
                task: {dataset: d.csv, target: y}
                search: {budget: {wall_minutes: 90, worker_hours: 12.5}, stop: {target: 0.8, no_improvement_trials: 25}, on_stop: release}
                space: {units: 8}
                """
        )
        let r = spec.search.stopRules
        #expect(r == SweepSpec.StopRules(wallMinutes: 90, workerHours: 12.5, target: 0.8, noImprovementTrials: 25, onStop: .release))
        let again = try SweepDefinition.decode(json: SweepDefinition(spec: spec, datasetSHA256: nil, features: nil).jsonString())
        #expect(again.spec.search.stopRules == r)
        #expect(spec.jsonString().contains(#""on_stop":"release""#))
        for (yaml, message) in [
            ("{budget: {wall_minutes: 0}}", "search.budget.wall_minutes: '0' must be a number > 0"),
            ("{budget: {hours: 1}}", "search.budget.hours: unknown key; allowed: wall_minutes, worker_hours"),
            ("{stop: {target: high}}", "search.stop.target: 'high' must be a number"),
            ("{stop: {no_improvement_trials: 0}}", "search.stop.no_improvement_trials: 0 must be ≥ 1"),
            ("{on_stop: later}", "search.on_stop: 'later' must be finish (running trials finish) or release (they stop now)"),
        ] {
            #expect(throws: SweepSpecError.self) {
                _ = try SweepSpec.parse(yaml: "name: b\ntask: {dataset: d.csv, target: y}\nsearch: \(yaml)\nspace: {units: 8}\n")
            }
            do { _ = try SweepSpec.parse(yaml: "name: b\ntask: {dataset: d.csv, target: y}\nsearch: \(yaml)\nspace: {units: 8}\n") } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}
