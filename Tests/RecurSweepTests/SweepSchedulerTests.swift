import Foundation
import Testing

@testable import RecurSweep

/// The per-sweep scheduler on its own: no SQLite, no HTTP, no coordinator.
@Suite struct SweepSchedulerTests {
    static func spec(method: String = "tpe", trials: Int = 12, parallel: Int = 3, pruning: String = "{method: none}") throws -> SweepSpec {
        try SweepSpec.parse(
            yaml: """
                name: s
                task: {dataset: d.csv, target: y}
                search: {method: \(method), seed: 5, max_trials: \(trials), max_parallel: \(parallel), n_startup: 4}
                space:
                  cell: {choice: [gru, lstm, simple_rnn]}
                  units: {int: [4, 64], log: true}
                  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
                pruning: \(pruning)
                """
        )
    }

    /// The one run of trial `number` in a sweep without `evaluation:` (run id = 100 + number).
    static func ref(_ number: Int) -> SweepScheduler.RunRef {
        SweepScheduler.RunRef(runId: Int64(number) + 100, trial: number, run: 1, plan: RunPlan(kind: .scoring, fold: nil, seedIndex: 0))
    }

    /// Runs `scheduler` to the end, completing every trial with a value made from its number;
    /// returns the assignments in order.
    static func drain(_ scheduler: SweepScheduler) -> [SweepScheduler.Assignment] {
        var order: [SweepScheduler.Assignment] = []
        while let assignment = scheduler.next() {
            order.append(assignment)
            scheduler.started()
            switch assignment {
            case .new(let number, let config, _):
                scheduler.observe(config: config, value: Double(number % 5), pruned: false)
                scheduler.ended(ref(number), .succeeded)
            case .run(let ref):
                scheduler.ended(ref, .succeeded)
            }
        }
        return order
    }

    @Test func slotsStopAtMaxParallelAndTrialsAtMaxTrials() throws {
        let scheduler = SweepScheduler(spec: try Self.spec(trials: 5, parallel: 2))
        let a = try #require(scheduler.next())
        scheduler.started()
        let b = try #require(scheduler.next())
        scheduler.started()
        #expect(scheduler.next() == nil, "a third slot at max_parallel 2")
        #expect(!scheduler.isFinished)
        guard case .new(let first, _, _) = a, case .new(let second, _, _) = b else {
            Issue.record("\(a) \(b)")
            return
        }
        #expect(first == 0 && second == 1)
        scheduler.ended(Self.ref(0), .succeeded)
        scheduler.ended(Self.ref(1), .succeeded)
        let rest = Self.drain(scheduler)
        #expect(rest.count == 3 && scheduler.isFinished && scheduler.nextNumber == 5)
    }

    @Test func noConfigurationRunsTwiceAndSeedsDifferPerTrial() throws {
        let scheduler = SweepScheduler(spec: try Self.spec(trials: 30, parallel: 1))
        let configs = Self.drain(scheduler).compactMap { a -> String? in
            if case .new(_, _, let json) = a { return json }
            return nil
        }
        #expect(configs.count == 30 && Set(configs).count == 30)
        #expect(Set((0..<30).map { scheduler.seed(forTrial: $0) }).count == 30)
    }

    /// A requeued trial goes before any new one, lowest number first, and keeps its number.
    @Test func requeuedTrialsComeFirstLowestNumberFirst() throws {
        let scheduler = SweepScheduler(spec: try Self.spec(trials: 10, parallel: 3))
        for _ in 0..<3 {
            _ = scheduler.next()
            scheduler.started()
        }
        scheduler.ended(Self.ref(2), .requeued)
        scheduler.ended(Self.ref(0), .requeued)
        #expect(scheduler.next() == .run(Self.ref(0)))
        scheduler.started()
        #expect(scheduler.next() == .run(Self.ref(2)))
        scheduler.started()
        #expect(scheduler.next() == nil, "three leases out")
        scheduler.ended(Self.ref(1), .failed)
        guard case .new(let number, _, _) = scheduler.next() else {
            Issue.record("expected a new trial")
            return
        }
        #expect(number == 3)
    }

    /// A retried trial is judged on its own epochs: what its lost attempt reported is forgotten.
    @Test func aRequeuedTrialIsJudgedAfresh() throws {
        let scheduler = SweepScheduler(spec: try Self.spec(trials: 10, parallel: 10, pruning: "{method: asha, min_epochs: 1, reduction_factor: 2}"))
        var last: PruneDecision?
        for n in 0..<4 {
            _ = scheduler.next()
            scheduler.started()
            last = scheduler.report(Self.ref(n), epoch: 1, value: Double(n))
        }
        #expect(last?.prune == true, "trial 3 is the worst at rung 1: \(String(describing: last))")
        // Its retry reports the best value, and is judged on that alone.
        scheduler.ended(Self.ref(3), .requeued)
        #expect(scheduler.next() == .run(Self.ref(3)))
        scheduler.started()
        #expect(!scheduler.report(Self.ref(3), epoch: 1, value: -1).prune)
    }

    /// After a restart the scheduler rebuilt from the store's history hands out exactly what the
    /// live one would have.
    @Test func aRestoredSchedulerContinuesLikeTheLiveOne() throws {
        let spec = try Self.spec(trials: 16, parallel: 4)
        let live = SweepScheduler(spec: spec)
        var history: [SweepScheduler.TrialHistory] = []
        for _ in 0..<4 {
            guard case .new(let number, let config, let json) = live.next() else {
                Issue.record("no trial")
                return
            }
            live.started()
            history.append(
                .init(
                    number: number,
                    trialId: Int64(number) + 100,
                    configHash: TrialConfig.hash(canonicalJSON: json),
                    config: config,
                    state: .running,
                    bestValue: nil,
                    runs: [.init(ref: Self.ref(number), state: .running, epochs: [(attempt: 1, epoch: 1, value: 2)])]
                )
            )
        }
        // Trial 0 completes, trial 1 is lost and requeued, trial 2 is pruned; trial 3 still runs.
        for (i, state) in [(0, SweepScheduler.TrialHistory.State.completed), (1, .pending), (2, .pruned)] {
            history[i].state = state
            history[i].bestValue = Double(i + 1)
            let end: SweepScheduler.RunEnd = state == .completed ? .succeeded : state == .pending ? .requeued : .pruned
            history[i].runs[0].state = state == .completed ? .succeeded : state == .pending ? .pending : .pruned
            if state != .pending, let config = history[i].config { live.observe(config: config, value: Double(i + 1), pruned: state == .pruned) }
            live.ended(Self.ref(i), end)
        }
        let restored = SweepScheduler.restore(spec: spec, history: history)
        #expect(restored.running == live.running && restored.pending == live.pending && restored.nextNumber == live.nextNumber)
        for _ in 0..<6 {
            let (a, b) = (live.next(), restored.next())
            #expect(a == b)
            live.started()
            restored.started()
        }
    }
}
