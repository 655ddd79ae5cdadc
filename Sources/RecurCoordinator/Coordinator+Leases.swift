import Foundation
import Logging
import RecurAPI
import RecurEngine
import RecurStore
import RecurSweep

/// Leases and their life: lease, heartbeat, release, expiry, and the books kept when a run ends.
extension Coordinator {
    /// Leases a trial of a running sweep (a requeued trial first, else a newly sampled one), or
    /// says there is no work now (`no_work`) or no work will come (`done`).
    public func lease(worker: String, sweep name: String?) async throws -> API.LeaseResponse {
        try await grouped { try self.leaseNow(worker: worker, sweep: name) }
    }

    func leaseNow(worker: String, sweep name: String?) throws -> API.LeaseResponse {
        let now = clock()
        if let name, !runtimes.values.contains(where: { $0.record.name == name }) {
            _ = try store.sweep(named: name)  // 404 for a sweep that does not exist; an inactive one is "done"
        }
        if now - (lastTouch[worker] ?? -.infinity) > 5 {
            try store.touchWorker(worker, now: now)
            lastTouch[worker] = now
        }
        let traits = try traits(ofWorker: worker)
        let engine = traits.engine
        var anyActive = false
        var incompatible: [API.IncompatibleSweep] = []
        for id in runtimes.keys.sorted() {
            guard let runtime = runtimes[id] else { continue }
            if let name, runtime.record.name != name { continue }
            if runtime.record.state == .paused {
                anyActive = true
                continue
            }
            guard runtime.record.state == .running else { continue }
            if try enforceStopRules(runtime, force: false, now: now) { continue }
            if runtime.scheduler.isFinished {
                runtime.record = try store.setSweepState(id, to: .done, from: [.running], now: now)
                runtimes[id] = nil
                logger.info("sweep done", metadata: ["sweep.name": "\(runtime.record.name)"])
                sweepEnded(runtime)
                continue
            }
            if let pinned = runtime.engineVersion, pinned != engine {
                // Its numbers would not be comparable with the sweep's other trials.
                if name != nil {
                    throw APIFailure(
                        .conflict,
                        .engineMismatch,
                        "sweep \(runtime.record.name) pins engine \(pinned) and this worker has \(engine ?? "an unknown engine"); "
                            + "install recur with engine \(pinned) on this worker, or create the sweep with workers: {engine: any}"
                    )
                }
                incompatible.append(.init(sweep: runtime.record.name, engineVersion: pinned))
                continue
            }
            if runtime.needsRunLayouts && !traits.trainsRuns {
                // It would train every fold and refit on the task's split, and its numbers would be wrong.
                if name != nil {
                    throw APIFailure(
                        .conflict,
                        .engineMismatch,
                        "sweep \(runtime.record.name) scores trials over folds or refits, and this worker predates runs; install this release of recur on it"
                    )
                }
                incompatible.append(.init(sweep: runtime.record.name, engineVersion: runtime.engineVersion ?? BuildInfo.engineVersion))
                continue
            }
            anyActive = true
            let token = UUID().uuidString.lowercased() + "-" + UUID().uuidString.lowercased()
            guard let leased = try leaseRun(runtime, sweep: id, worker: worker, token: token, now: now) else { continue }
            let (trial, run, attempt, config) = leased
            runtime.scheduler.started()
            let ref = SweepScheduler.RunRef(runId: run.id!, trial: trial.number, run: run.number, plan: run.plan)
            leases[token] = LeaseInfo(attemptId: attempt.id!, trialId: trial.id!, trialNumber: trial.number, sweepId: id, config: config, run: ref)
            let seed = runtime.scheduler.seed(forTrial: trial.number, seedIndex: run.seedIndex)
            var plan = try runtime.spec.trainingPlan(for: config, features: runtime.features, seed: seed)
            if run.kind == .refit {
                // A refit has nothing to validate on: it trains for the trial's median best epoch count.
                plan.settings.epochs = run.epochs ?? plan.settings.epochs
                plan.settings.earlyStopping = nil
            }
            counters.leases += 1
            logger.info(
                "leased",
                metadata: [
                    "sweep.name": "\(runtime.record.name)", "trial.number": "\(trial.number)", "run": "\(run.number)",
                    "attempt": "\(attempt.number)", "worker.id": "\(worker)",
                ]
            )
            return API.LeaseResponse(
                status: .leased,
                lease: API.Lease(
                    token: token,
                    deadline: attempt.leaseDeadline,
                    leaseSeconds: leaseSeconds,
                    sweep: runtime.record.name,
                    trialId: trial.id!,
                    trialNumber: trial.number,
                    attempt: attempt.number,
                    config: config,
                    task: runtime.spec.task(for: config, base: runtime.task),
                    model: plan.model,
                    training: plan.settings,
                    objective: API.Objective(runtime.spec.objective.metric),
                    run: API.RunInfo(
                        number: run.number,
                        kind: run.kind == .refit ? .refit : .scoring,
                        fold: run.fold,
                        folds: runtime.evaluation.foldCount,
                        seedIndex: run.seedIndex,
                        confirmation: run.confirmation
                    )
                )
            )
        }
        return API.LeaseResponse(status: anyActive ? .noWork : .done, lease: nil, incompatible: incompatible.isEmpty ? nil : incompatible)
    }

    /// Leases the sweep's next run (a waiting run of a started trial first, else the first run of
    /// a newly sampled trial, else — once the search is over — the top-K confirmation runs), or
    /// nil when it has nothing to hand out now.
    func leaseRun(
        _ runtime: Runtime,
        sweep id: Int64,
        worker: String,
        token: String,
        now: Double
    ) throws -> (
        TrialRecord, RunRecord, AttemptRecord, TrialConfig
    )? {
        let deadline = now + leaseSeconds
        while true {
            while let assignment = runtime.scheduler.next() {
                switch assignment {
                case .run(let ref):
                    let leased: SweepStore.LeasedRun
                    do { leased = try store.lease(run: ref.runId, worker: worker, token: token, deadline: deadline, now: now) } catch {
                        // Still pending in the store: it waits for the next slot.
                        runtime.scheduler.putBack(assignment)
                        throw error
                    }
                    return (leased.trial, leased.run, leased.attempt, try TrialConfig.decode(json: leased.trial.configJson))
                case .new(let number, let config, let json):
                    do {
                        let (leased, others) = try store.addAndLease(
                            sweep: id,
                            number: number,
                            config: config,
                            canonicalJSON: json,
                            runs: runtime.evaluation.scoringRuns(seeds: 0..<runtime.evaluation.seeds),
                            worker: worker,
                            token: token,
                            deadline: deadline,
                            now: now
                        )
                        runtime.scheduler.add(others.map { SweepScheduler.RunRef(runId: $0.id!, trial: number, run: $0.number, plan: $0.plan) })
                        // A hand-picked configuration is now a trial.
                        try store.dequeue(sweep: id, hash: leased.trial.configHash)
                        return (leased.trial, leased.run, leased.attempt, config)
                    } catch StoreError.duplicate(_) {
                        continue
                    }
                }
            }
            guard runtime.scheduler.needsConfirmation else { return nil }
            let added = try store.addConfirmationRuns(sweep: id, evaluation: runtime.evaluation, now: now)
            runtime.scheduler.confirmationStarted()
            let configs = Dictionary(
                try store.trials(sweep: id).map { ($0.number, $0.configJson) },
                uniquingKeysWith: { a, _ in a }
            )
            runtime.scheduler.add(
                added.map {
                    let config = configs[$0.trialNumber].flatMap { try? TrialConfig.decode(json: $0) }
                    return SweepScheduler.RunRef(
                        runId: $0.run.id!,
                        trial: $0.trialNumber,
                        run: $0.run.number,
                        plan: $0.run.plan,
                        cost: config.map { runtime.spec.flopsPerSample($0, features: runtime.features) } ?? 0
                    )
                }
            )
            if added.isEmpty { return nil }
            logger.info("confirmation started", metadata: ["sweep.name": "\(runtime.record.name)", "runs": "\(added.count)"])
        }
    }

    /// The lease `token` refers to: from memory, or (after a restart) from the store.
    func leaseInfo(_ token: String) throws -> (LeaseInfo, Runtime) {
        if let info = leases[token], let runtime = runtimes[info.sweepId] { return (info, runtime) }
        let attempt = try store.read { db in try AttemptRecord.filter(sql: "lease_token = ?", arguments: [token]).fetchOne(db) }
        guard let attempt else {
            counters.staleCalls += 1
            throw StoreError.notFound(.lease, "unknown lease token")
        }
        guard attempt.state == .running else {
            counters.staleCalls += 1
            throw StoreError.staleLease("the lease of attempt \(attempt.number) is \(attempt.state.rawValue)")
        }
        let trial = try store.trial(id: attempt.trialId)
        guard let runtime = runtimes[trial.sweepId] else { throw StoreError.conflict("the sweep of trial \(trial.number) is not active") }
        guard let run = try store.runs(trial: trial.id!).first(where: { $0.id == attempt.runId }) else {
            throw StoreError.conflict("attempt \(attempt.number) of trial \(trial.number) has no run")
        }
        let info = LeaseInfo(
            attemptId: attempt.id!,
            trialId: trial.id!,
            trialNumber: trial.number,
            sweepId: trial.sweepId,
            config: try TrialConfig.decode(json: trial.configJson),
            run: SweepScheduler.RunRef(runId: run.id!, trial: trial.number, run: run.number, plan: run.plan)
        )
        leases[token] = info
        return (info, runtime)
    }

    /// Books the end of a lease in memory: one run fewer out, maybe one more waiting, the runs it
    /// added (refits), a closed trial's waiting runs dropped, and a finished trial's result for
    /// the sampler.
    func finished(_ token: String, _ runtime: Runtime, _ outcome: SweepStore.RunOutcome, config: TrialConfig?) {
        if outcome.run.state != .succeeded, let attempt = leases[token]?.attemptId { store.discardUpload(attempt: attempt) }
        let ref =
            leases[token]?.run
            ?? SweepScheduler.RunRef(runId: outcome.run.id!, trial: outcome.trial.number, run: outcome.run.number, plan: outcome.run.plan)
        leases[token] = nil
        booked(ref, runtime, outcome, config: config)
        checkStopRulesAfterRun(runtime, trialFinished: [.completed, .pruned].contains(outcome.trial.state))
    }

    func booked(_ ref: SweepScheduler.RunRef, _ runtime: Runtime, _ outcome: SweepStore.RunOutcome, config: TrialConfig?) {
        runtime.scheduler.ended(ref, Self.runEnd(outcome.run.state))
        let trial = outcome.trial
        runtime.scheduler.add(outcome.added.map { SweepScheduler.RunRef(runId: $0.id!, trial: trial.number, run: $0.number, plan: $0.plan) })
        if outcome.closed { runtime.scheduler.close(trial: trial.number) }
        if outcome.closed || trial.state == .completed { notifyTrialEnded(runtime, trial, confirmation: ref.plan.confirmation) }
        guard let config else { return }
        if outcome.closed && trial.state == .pruned {
            runtime.scheduler.observe(config: config, value: trial.bestValMetric ?? .infinity, pruned: true)
        } else if trial.state == .completed && !ref.plan.confirmation, let value = trial.bestValMetric {
            // A trial completes once, with its last search run (confirmation runs come after).
            runtime.scheduler.observe(config: config, value: value, pruned: false)
        }
    }

    public func heartbeat(token: String) async throws -> API.DeadlineResponse {
        try await grouped { try self.heartbeatNow(token: token) }
    }

    func heartbeatNow(token: String) throws -> API.DeadlineResponse {
        do {
            let attempt = try store.renew(token: token, deadline: clock() + leaseSeconds, now: clock())
            // A worker whose row is gone is not marked as seen, so its next lease tells it to register again.
            if let w = attempt.workerId, (try? store.touchWorker(w, now: clock())) != nil { lastTouch[w] = clock() }
            return API.DeadlineResponse(deadline: attempt.leaseDeadline)
        } catch let error as StoreError {
            if case .staleLease = error { counters.staleCalls += 1 }
            throw error
        }
    }

    public func release(token: String) async throws -> API.TrialStateResponse {
        try await grouped { try self.releaseNow(token: token) }
    }

    func releaseNow(token: String) throws -> API.TrialStateResponse {
        let (info, runtime) = try leaseInfo(token)
        let outcome = try store.release(token: token, evaluation: runtime.evaluation, now: clock())
        finished(token, runtime, outcome, config: info.config)
        counters.releases += 1
        return API.TrialStateResponse(trialId: outcome.trial.id!, state: API.TrialState(outcome.trial.state))
    }

    /// Marks expired leases lost and requeues their trials. Called by the reaper.
    @discardableResult
    public func reap() throws -> Int {
        let expired = try store.expireLeases(
            now: clock(),
            evaluation: { [runtimes] sweep in runtimes[sweep]?.evaluation ?? .init() },
            maxAttempts: { [runtimes] sweep in runtimes[sweep]?.spec.maxAttempts ?? 3 }
        )
        counters.expirations += expired.count
        for outcome in expired {
            let t = outcome.trial
            logger.warning("lease expired", metadata: ["trial.id": "\(t.id!)", "run": "\(outcome.run.number)", "trial.state": "\(t.state.rawValue)"])
            guard let runtime = runtimes[t.sweepId] else { continue }
            let config = try? TrialConfig.decode(json: t.configJson)
            if let token = leases.first(where: { $0.value.run.runId == outcome.run.id })?.key {
                finished(token, runtime, outcome, config: config)
            } else {
                let ref = SweepScheduler.RunRef(runId: outcome.run.id!, trial: t.number, run: outcome.run.number, plan: outcome.run.plan)
                booked(ref, runtime, outcome, config: config)
            }
        }
        return expired.count
    }

    public func register(_ request: API.RegisterRequest) async throws -> API.RegisterResponse {
        try await grouped { try self.registerNow(request) }
    }

    func registerNow(_ request: API.RegisterRequest) throws -> API.RegisterResponse {
        let w = try store.registerWorker(
            host: request.host,
            slots: Int(request.slots),
            version: request.version,
            engineVersion: request.engineVersion,
            checkpointFormat: request.checkpointFormat,
            cpuFeatures: request.cpuFeatures,
            trainsRuns: request.trainsRuns ?? false,
            now: clock()
        )
        workerTraits[w.id] = WorkerTraits(engine: w.engineVersion, trainsRuns: w.trainsRuns)
        logger.info(
            "worker registered",
            metadata: [
                "worker.id": "\(w.id)", "worker.host": "\(oneLine(w.host))", "worker.slots": "\(w.slots)",
                "worker.engine": "\(oneLine(w.engineVersion ?? "unknown"))",
            ]
        )
        return API.RegisterResponse(workerId: w.id, leaseSeconds: leaseSeconds)
    }
}
