import Foundation
import Logging
import RecurAPI
import RecurEngine
import RecurForecast
import RecurStore
import RecurSweep
import Synchronization

/// The coordinator's shared state: the store plus, per active sweep, the in-memory sampler,
/// pruner and the set of configs already sampled. All durable state is in SQLite; this actor can
/// be rebuilt from it at any time (``init(store:leaseSeconds:datasetDirectory:logger:clock:)``
/// replays the history).
public actor Coordinator {
    /// Per-sweep runtime: the sweep's record and its pure scheduler (sampler, pruner, queue,
    /// seeds), plus what every lease carries.
    final class Runtime {
        var record: SweepRecord
        let scheduler: SweepScheduler
        let task: TaskSpec
        let features: Int
        var spec: SweepSpec { scheduler.spec }
        /// The engine version its workers must have; nil: any.
        var engineVersion: String? { record.definitionJson.engineVersion }
        var evaluation: SweepSpec.Evaluation { spec.evaluation }
        /// A trial is its one run (no folds, seeds, refits or confirmation): scored epoch by epoch, as before runs.
        var singleRun: Bool { evaluation.runsPerTrial == 1 && !evaluation.refits && evaluation.confirm == nil }
        /// Its runs train on other rows than the task's split: only workers that train runs may take them.
        var needsRunLayouts: Bool { evaluation.foldMethod == .rollingOrigin || evaluation.refits }
        /// When the budgets were last read from the store.
        var lastStopCheck = -Double.infinity
        /// The best completed trial's objective so far, for `new_best` notifications.
        var bestValue: Double?

        init(record: SweepRecord, scheduler: SweepScheduler, task: TaskSpec, features: Int) {
            self.record = record
            self.scheduler = scheduler
            self.task = task
            self.features = features
        }
    }

    nonisolated public let store: SweepStore
    nonisolated public let leaseSeconds: Double
    /// Webhook notifications, drained by a ``WebhookService``.
    nonisolated public let notifications = NotificationQueue()
    let datasetDirectory: URL
    let logger: Logger
    let clock: @Sendable () -> Double
    var runtimes: [Int64: Runtime] = [:]
    public internal(set) var counters = Counters()

    /// What a lease token refers to; filled at lease time (or from the store after a restart).
    struct LeaseInfo {
        var attemptId: Int64
        var trialId: Int64
        var trialNumber: Int
        var sweepId: Int64
        var config: TrialConfig
        var run: SweepScheduler.RunRef
    }
    var leases: [String: LeaseInfo] = [:]
    var lastTouch: [String: Double] = [:]
    func countDatasetDownload() { counters.datasetDownloads += 1 }

    /// Each registered worker's engine and whether it trains runs, read from the store once.
    var workerTraits: [String: WorkerTraits] = [:]
    /// What a lease must know of its worker: its engine (nil: it did not say) and whether it
    /// trains runs (folds, refits).
    struct WorkerTraits {
        var engine: String?
        var trainsRuns: Bool
    }
    /// Stored datasets whose bytes this process has hashed and found whole.
    nonisolated let verifiedDatasets = Mutex<Set<String>>([])
    /// Worker calls waiting for the next group commit (see Coordinator+GroupCommit.swift).
    var queuedWrites: [QueuedWrite] = []
    var drainScheduled = false

    /// Operation counts for `/metrics`.
    public struct Counters: Sendable {
        public var leases = 0, reports = 0, duplicateReports = 0, completions = 0, prunes = 0, failures = 0, releases = 0, expirations = 0,
            staleCalls = 0
        public var groupCommits = 0, groupedCalls = 0
        /// Dataset downloads served (each GET, ranged ones included).
        public var datasetDownloads = 0
    }

    public init(
        store: SweepStore,
        leaseSeconds: Double = 30,
        datasetDirectory: URL? = nil,
        logger: Logger = Logger(label: "recur.coordinator"),
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) throws {
        self.store = store
        self.leaseSeconds = leaseSeconds
        self.datasetDirectory = URL(
            fileURLWithPath: (datasetDirectory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).path,
            isDirectory: true
        )
        self.logger = logger
        self.clock = clock
        // The workers kept training while the coordinator was down; an outage longer than the
        // lease must not throw their work away the moment it is back.
        try store.extendRunningLeases(until: clock() + leaseSeconds)
        try store.removeStaleCheckpointFiles()
        store.removeStaleDatasetParts()
        runtimes = try Coordinator.restoreActiveSweeps(store: store)
        Self.importMissingDatasets(of: runtimes.values.map(\.task), store: store, directory: self.datasetDirectory, logger: logger)
    }

    // MARK: - Sweeps

    /// Validates and stores a sweep. Its dataset must be in the store (uploaded) or readable by
    /// the coordinator (then imported into the store); its hash and feature count go to every
    /// worker. It is read, hashed and parsed before the actor is entered, so worker calls never
    /// wait behind it.
    public nonisolated func createSweep(yaml: String, source: String = "sweep", origin: Origin = Origin()) async throws -> SweepRecord {
        try await createSweep(try SweepSpec.parse(yaml: yaml, source: source), yaml: yaml, source: source, origin: origin)
    }

    /// ``createSweep(yaml:source:origin:)`` for a definition already parsed from `yaml`.
    nonisolated func createSweep(_ spec: SweepSpec, yaml: String, source: String, origin: Origin) async throws -> SweepRecord {
        let data = try Self.prepareDataset(spec, source: source, directory: datasetDirectory, store: store, declared: origin.datasetSHA256)
        let definition = SweepDefinition(
            spec: spec,
            datasetSHA256: data.task.datasetSHA256,
            features: data.features,
            engineVersion: spec.workers.engine == .any ? nil : origin.engineVersion,
            baselines: data.baselines
        )
        return try await insert(definition, yaml: yaml, task: data.task)
    }

    func insert(_ definition: SweepDefinition, yaml: String, task: TaskSpec) throws -> SweepRecord {
        let spec = definition.spec
        // Checked before the sweep is stored: a warm start from nowhere is a definition error.
        let warm = try Self.warmStart(spec, store: store)
        let scheduler = SweepScheduler.restore(spec: spec, history: [], prior: warm?.observations ?? [])
        let record = try store.createSweep(spec, yaml: yaml, definition: definition, now: clock())
        runtimes[record.id!] = Runtime(
            record: record,
            scheduler: scheduler,
            task: task,
            features: definition.features ?? 1
        )
        if let warm, let name = spec.search.warmStartSweep {
            let used = warm.observations.count
            try store.recordEvent("warm_started", sweep: record.id!, detail: ["from": name, "used": used, "skipped": warm.skipped], now: clock())
            logger.notice(
                "warm start: \(used) finished trial(s) of sweep \(name) fed to TPE, \(warm.skipped) skipped (outside this space)",
                metadata: ["sweep.name": "\(spec.name)"]
            )
        }
        logger.info("sweep created", metadata: ["sweep.name": "\(spec.name)", "sweep.max_trials": "\(spec.search.maxTrials)"])
        return record
    }

    public func setState(sweep name: String, to state: SweepState) throws -> SweepRecord {
        let record = try store.sweep(named: name)
        let from: [SweepState]
        switch state {
        case .paused: from = [.running]
        case .running: from = [.paused]
        case .cancelled: from = [.running, .paused]
        case .done: from = [.running]
        }
        let updated = try store.setSweepState(record.id!, to: state, from: from, now: clock())
        if state == .running, runtimes[record.id!] == nil { runtimes[record.id!] = try Coordinator.restore(updated, store: store) }
        runtimes[record.id!]?.record = updated
        return updated
    }

    // MARK: - Leases

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

    /// Stores an epoch's metrics and answers continue, prune or stop.
    public func report(token: String, _ report: API.EpochReport) async throws -> API.ReportResponse {
        try await grouped { try self.reportNow(token: token, report) }
    }

    func reportNow(token: String, _ report: API.EpochReport) throws -> API.ReportResponse {
        let now = clock()
        let (info, runtime) = try leaseInfo(token)
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

/// Request-level errors of the API (400).
public enum APIError: Error, CustomStringConvertible {
    case badRequest(String)
    public var description: String {
        switch self {
        case .badRequest(let m): return m
        }
    }
}

/// Text from a client, made safe for one log line: control characters (newlines among them)
/// become spaces, so a worker's message cannot forge log lines.
func oneLine(_ text: some StringProtocol) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
}
