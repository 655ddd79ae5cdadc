import Foundation
import RecurStore
import RecurSweep

extension Coordinator {
    /// Ends the sweep when a budget or stop rule is met, and finishes a sweep that was letting
    /// its running trials end; true when the sweep must lease nothing more. Budgets are read
    /// from the store (at most once a second per sweep unless `force`), so a restarted
    /// coordinator counts the same time.
    func enforceStopRules(_ runtime: Runtime, force: Bool, now: Double) throws -> Bool {
        guard runtime.record.state == .running, let id = runtime.record.id else { return false }
        if runtime.record.stopRule != nil {
            // `on_stop: finish`: nothing new; done once the last running attempt has ended.
            if try store.runningAttempts(sweep: id) == 0 {
                runtime.record = try store.setSweepState(id, to: .done, from: [.running], now: now)
                logger.info("sweep done", metadata: ["sweep.name": "\(runtime.record.name)", "reason": "\(runtime.record.stopMessage ?? "")"])
                sweepEnded(runtime)
            }
            return true
        }
        let rules = runtime.spec.search.stopRules
        guard !rules.isEmpty, force || now - runtime.lastStopCheck >= 1 else { return false }
        runtime.lastStopCheck = now
        let facts = try store.progressFacts(runtime.record, now: now)
        guard let reason = rules.firstMet(by: facts, minimize: runtime.spec.objective.minimize, label: runtime.spec.objective.metric.label) else {
            return false
        }
        let running = try store.runningAttempts(sweep: id)
        // `release`: done now; running attempts are told to stop at their next report.
        runtime.record = try store.recordStop(id, reason, done: rules.onStop == .release || running == 0, now: now)
        if runtime.record.state == .done { sweepEnded(runtime) }
        logger.notice(
            "sweep stopping",
            metadata: [
                "sweep.name": "\(runtime.record.name)", "reason": "\(reason.message)", "on_stop": "\(rules.onStop.rawValue)",
                "running": "\(running)",
            ]
        )
        return true
    }

    /// After a run ended: a finished trial may meet a target or no-improvement rule, and the
    /// last running attempt of a finishing sweep ends it.
    func checkStopRulesAfterRun(_ runtime: Runtime, trialFinished: Bool) {
        guard runtime.record.stopRule != nil || !runtime.spec.search.stopRules.isEmpty else { return }
        do { _ = try enforceStopRules(runtime, force: trialFinished, now: clock()) } catch {
            logger.error("stop rules not checked", metadata: ["sweep.name": "\(runtime.record.name)", "error": "\(error)"])
        }
    }
}
