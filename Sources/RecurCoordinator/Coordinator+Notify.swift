import Foundation
import RecurStore
import RecurSweep

extension Coordinator {
    /// Queues `event` for the sweep's webhook when its `notify.on` lists it; never waits.
    func notify(_ runtime: Runtime, _ event: SweepSpec.Notify.Event, trial: Int? = nil, reason: String? = nil) {
        guard let n = runtime.spec.notify, n.on.contains(event), let summary = try? store.summary(of: runtime.record) else { return }
        notifications.post(
            SweepNotification(
                event: event,
                sweep: runtime.record.name,
                time: clock(),
                state: runtime.record.state.rawValue,
                trial: trial,
                objective: runtime.spec.objective.metric.rawValue,
                bestValue: summary.bestValue,
                bestTrial: summary.bestTrial,
                reason: reason,
                completed: summary.completed,
                pruned: summary.pruned,
                failed: summary.failed,
                webhook: n.webhook
            )
        )
    }

    /// After a trial ended: `failed` for a trial failed for good, `new_best` for a completed one
    /// that beats every earlier trial.
    func notifyTrialEnded(_ runtime: Runtime, _ trial: TrialRecord, confirmation: Bool) {
        guard let n = runtime.spec.notify else { return }
        if trial.state == .failed, n.on.contains(.failed) {
            notify(runtime, .failed, trial: trial.number, reason: try? store.lastError(trial: trial.id!))
        } else if trial.state == .completed, !confirmation, n.on.contains(.newBest), let value = trial.bestValMetric {
            let minimize = runtime.spec.objective.minimize
            if runtime.bestValue.map({ minimize ? value < $0 : value > $0 }) ?? true {
                runtime.bestValue = value
                notify(runtime, .newBest, trial: trial.number)
            }
        }
    }

    /// The sweep just became `done`.
    func sweepEnded(_ runtime: Runtime) {
        notify(runtime, .done, reason: runtime.record.stopMessage ?? "its trials ran out (max_trials or the space)")
    }
}
