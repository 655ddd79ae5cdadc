import Foundation
import Logging
import RecurAPI
import RecurStore
import RecurSweep

/// What a leased run sends: its epoch reports, its completion or failure, its checkpoint.
extension Coordinator {
    /// Stores an epoch's metrics and answers continue, prune or stop.
    public func report(token: String, _ report: API.EpochReport) async throws -> API.ReportResponse {
        try await grouped { try self.reportNow(token: token, report) }
    }

    func reportNow(token: String, _ report: API.EpochReport) throws -> API.ReportResponse {
        let now = clock()
        let (info, runtime) = try leaseInfo(token)
        let limit = Self.epochLimit(info, runtime)
        if report.epoch > limit { throw StoreError.conflict("epoch: \(report.epoch) is beyond this run's \(limit) epochs") }
        let objective = runtime.spec.objective.value(valMAE: report.valMae, valLoss: report.valLoss)
        let result: SweepStore.ReportOutcome
        do {
            result = try store.report(
                token: token,
                metrics: EpochMetrics(
                    epoch: report.epoch,
                    trainLoss: report.trainLoss,
                    valLoss: report.valLoss,
                    valMAE: report.valMae,
                    seconds: report.seconds
                ),
                objective: objective,
                minimize: runtime.spec.objective.minimize,
                singleRun: runtime.singleRun,
                deadline: now + leaseSeconds,
                now: now
            )
        } catch let error as StoreError {
            if case .staleLease = error {
                counters.staleCalls += 1
                leases[token] = nil
            }
            throw error
        }
        counters.reports += 1
        guard result.inserted else {
            counters.duplicateReports += 1
            return API.ReportResponse(action: ._continue, deadline: result.leaseDeadline, reason: "epoch \(report.epoch) was already recorded")
        }
        if runtime.record.state != .running {
            let outcome = try store.release(token: token, evaluation: runtime.evaluation, now: now)
            finished(token, runtime, outcome, config: info.config)
            return API.ReportResponse(action: .stop, deadline: now, reason: "sweep \(runtime.record.name) is \(runtime.record.state.rawValue)")
        }
        if runtime.scheduler.closed.contains(info.trialNumber) {
            // Another run of the trial was pruned (or failed): this one's numbers no longer matter,
            // but the pruner records them as a restart would replay them.
            _ = runtime.scheduler.report(info.run, epoch: report.epoch, value: objective)
            let reason = "another run of trial \(info.trialNumber) was pruned or failed"
            let outcome = try store.prune(token: token, detail: ["rule": "trial_closed", "reason": reason], evaluation: runtime.evaluation, now: now)
            finished(token, runtime, outcome, config: nil)
            counters.prunes += 1
            return API.ReportResponse(action: .prune, deadline: now, reason: reason)
        }
        let decision = runtime.scheduler.report(info.run, epoch: report.epoch, value: objective)
        if decision.prune {
            var detail: [String: Any] = ["rule": decision.rule.rawValue, "reason": decision.reason, "run": info.run.run]
            if let fold = info.run.plan.fold { detail["fold"] = fold }
            for (k, v) in decision.numbers { detail[k] = v }
            let outcome = try store.prune(token: token, detail: detail, evaluation: runtime.evaluation, now: now)
            finished(token, runtime, outcome, config: info.config)
            counters.prunes += 1
            logger.info(
                "pruned",
                metadata: ["sweep.name": "\(runtime.record.name)", "trial.number": "\(info.trialNumber)", "reason": "\(decision.reason)"]
            )
            return API.ReportResponse(action: .prune, deadline: now, reason: decision.reason)
        }
        if decision.rule == .asha, decision.numbers["rung"] != nil {
            var detail: [String: Any] = ["rule": decision.rule.rawValue, "reason": decision.reason]
            for (k, v) in decision.numbers { detail[k] = v }
            try store.recordEvent("promoted", sweep: info.sweepId, trial: info.trialId, attempt: info.attemptId, detail: detail, now: now)
        }
        return API.ReportResponse(action: ._continue, deadline: result.leaseDeadline, reason: nil)
    }

    public func complete(token: String, _ request: API.CompleteRequest) async throws -> API.TrialStateResponse {
        try await grouped { try self.completeNow(token: token, request) }
    }

    func completeNow(token: String, _ request: API.CompleteRequest) throws -> API.TrialStateResponse {
        let (info, runtime) = try leaseInfo(token)
        let limit = Self.epochLimit(info, runtime)
        if request.epochsRun > limit { throw StoreError.conflict("epochs_run: \(request.epochsRun) is beyond this run's \(limit) epochs") }
        if request.bestEpoch > request.epochsRun {
            throw StoreError.conflict(
                "best_epoch: \(request.bestEpoch) is after epochs_run \(request.epochsRun); send the epoch whose weights the run kept"
            )
        }
        let value: Double?
        let sent = runtime.spec.objective.metric == .valLoss ? request.valLoss : request.valMae
        if let sent {
            value = sent
        } else if info.run.plan.kind == .scoring {
            // The best value its reports reached stands for the result it did not send.
            guard let best = try store.runs(trial: info.trialId).first(where: { $0.id == info.run.runId })?.bestValMetric else {
                throw StoreError.conflict(
                    "val_mae and val_loss: missing, and this scoring run reported no epoch; send its validation metrics (only a refit completes without them)"
                )
            }
            value = best
        } else {
            value = nil
        }
        let outcome: SweepStore.RunOutcome
        let evaluation = runtime.evaluation
        do {
            outcome = try store.complete(
                token: token,
                valMetric: info.run.plan.kind == .refit ? nil : value,
                bestEpoch: request.bestEpoch,
                testMetric: request.testMae,
                evaluation: evaluation,
                keepCheckpoint: { run in Self.isRepresentative(run, evaluation) },
                now: clock()
            )
        } catch let error as StoreError {
            if case .staleLease = error {
                counters.staleCalls += 1
                leases[token] = nil
            }
            throw error
        }
        finished(token, runtime, outcome, config: info.config)
        counters.completions += 1
        logger.info(
            "completed",
            metadata: [
                "sweep.name": "\(runtime.record.name)", "trial.number": "\(outcome.trial.number)", "run": "\(outcome.run.number)",
                "metric.val": "\(value.map { "\($0)" } ?? "none")", "metric.test": "\(request.testMae)",
                "trial.state": "\(outcome.trial.state.rawValue)",
            ]
        )
        return API.TrialStateResponse(trialId: outcome.trial.id!, state: API.TrialState(outcome.trial.state))
    }

    /// Whether a run's model is the trial's checkpoint: the first seed's refit, else the first
    /// seed's run on the last fold (or on the task's split).
    static func isRepresentative(_ run: RunRecord, _ evaluation: SweepSpec.Evaluation) -> Bool {
        guard run.seedIndex == 0 else { return false }
        if evaluation.refits { return run.kind == .refit }
        return run.kind == .scoring && run.fold == (evaluation.foldMethod == .none ? nil : evaluation.foldCount)
    }

    /// Where the checkpoint upload of the lease `token` goes; the lease must be running.
    public func uploadTarget(token: String) throws -> URL {
        let (info, _) = try leaseInfo(token)
        return try store.uploadFile(attempt: info.attemptId)
    }

    public func fail(token: String, _ request: API.FailRequest) async throws -> API.TrialStateResponse {
        try await grouped { try self.failNow(token: token, request) }
    }

    func failNow(token: String, _ request: API.FailRequest) throws -> API.TrialStateResponse {
        // The document allows null (as absent); the generated enum also takes "", which it does not.
        if request.kind == ._empty_ { throw APIError.badRequest("kind: '' is not a failure kind; send error, diverged or null") }
        let (info, runtime) = try leaseInfo(token)
        let outcome = try store.fail(
            token: token,
            error: String(request.error.prefix(4000)),
            retryable: request.retryable,
            maxAttempts: runtime.spec.maxAttempts,
            evaluation: runtime.evaluation,
            now: clock()
        )
        finished(token, runtime, outcome, config: info.config)
        let trial = outcome.trial
        counters.failures += 1
        logger.warning(
            "attempt failed",
            metadata: ["trial.id": "\(trial.id!)", "error": "\(oneLine(request.error.prefix(200)))", "trial.state": "\(trial.state.rawValue)"]
        )
        return API.TrialStateResponse(trialId: trial.id!, state: API.TrialState(trial.state))
    }

    /// The most epochs a run trains, so reports: a refit's own count, else the sweep's. A worker
    /// claiming more is not believed (its best epoch would set the refits' length).
    static func epochLimit(_ info: LeaseInfo, _ runtime: Runtime) -> Int { info.run.plan.epochs ?? runtime.spec.training.epochs }
}
