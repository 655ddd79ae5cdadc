import Foundation
import Logging
import RecurStore
import RecurSweep

/// Rebuilding the coordinator's memory from the store at start: every active sweep's scheduler,
/// replayed from its trials and metrics.
extension Coordinator {
    /// The runtimes of every running or paused sweep, rebuilt from the store.
    static func restoreActiveSweeps(store: SweepStore) throws -> [Int64: Runtime] {
        var runtimes: [Int64: Runtime] = [:]
        for record in try store.sweeps() where record.state == .running || record.state == .paused {
            runtimes[record.id!] = try restore(record, store: store)
        }
        return runtimes
    }

    /// Rebuilds a sweep's scheduler (sampler, pruner, taken set, queue) from the store.
    static func restore(_ record: SweepRecord, store: SweepStore) throws -> Runtime {
        // The definition was parsed from its YAML once, at creation; it is stored typed.
        let definition = record.definitionJson
        let spec = definition.spec
        var task = spec.task
        task.datasetSHA256 = definition.datasetSHA256
        let history = try store.trials(sweep: record.id!).map { trial in
            let metrics = try store.metrics(trial: trial.id!)
            let attempts = try store.attempts(trial: trial.id!)
            let runOfAttempt = Dictionary(uniqueKeysWithValues: attempts.map { ($0.id!, $0.runId) })
            return SweepScheduler.TrialHistory(
                number: trial.number,
                trialId: trial.id!,
                configHash: trial.configHash,
                config: try? TrialConfig.decode(json: trial.configJson),
                state: historyState(trial.state),
                bestValue: trial.bestValMetric,
                runs: try store.runs(trial: trial.id!).map { run in
                    SweepScheduler.RunHistory(
                        ref: SweepScheduler.RunRef(runId: run.id!, trial: trial.number, run: run.number, plan: run.plan),
                        state: historyState(run.state),
                        epochs: metrics.filter { runOfAttempt[$0.attemptId] == run.id }.map { m in
                            (attempt: m.attemptId, epoch: m.epoch, value: spec.objective.value(valMAE: m.valMae, valLoss: m.valLoss))
                        }
                    )
                }
            )
        }
        let prior = (try? warmStart(spec, store: store))??.observations ?? []
        let scheduler = SweepScheduler.restore(spec: spec, history: history, prior: prior)
        let runtime = Runtime(
            record: record,
            scheduler: scheduler,
            task: task,
            features: definition.features ?? 1
        )
        runtime.bestValue = try store.summary(of: record).bestValue
        for config in try store.enqueued(sweep: record.id!) { runtime.scheduler.enqueue(config) }
        return runtime
    }

    static func historyState(_ state: TrialState) -> SweepScheduler.TrialHistory.State {
        switch state {
        case .pending: return .pending
        case .running: return .running
        case .completed: return .completed
        case .pruned: return .pruned
        case .failed: return .failed
        }
    }

    static func historyState(_ state: RunState) -> SweepScheduler.RunHistory.State {
        switch state {
        case .pending: return .pending
        case .running: return .running
        case .succeeded: return .succeeded
        case .pruned: return .pruned
        case .failed: return .failed
        case .cancelled: return .cancelled
        }
    }

    /// How a lease's end left its run, for the scheduler.
    static func runEnd(_ state: RunState) -> SweepScheduler.RunEnd {
        switch state {
        case .pending: return .requeued
        case .succeeded: return .succeeded
        case .pruned: return .pruned
        case .failed, .running, .cancelled: return .failed
        }
    }
}
