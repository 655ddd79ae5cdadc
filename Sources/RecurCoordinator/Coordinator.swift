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

        init(record: SweepRecord, scheduler: SweepScheduler, task: TaskSpec, features: Int) {
            self.record = record
            self.scheduler = scheduler
            self.task = task
            self.features = features
        }
    }

    nonisolated public let store: SweepStore
    nonisolated public let leaseSeconds: Double
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
    }
    var leases: [String: LeaseInfo] = [:]
    var lastTouch: [String: Double] = [:]
    func countDatasetDownload() { counters.datasetDownloads += 1 }

    /// Each registered worker's engine version (nil: it did not say), read from the store once.
    var workerEngines: [String: String?] = [:]
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
        let record = try store.createSweep(spec, yaml: yaml, definition: definition, now: clock())
        runtimes[record.id!] = Runtime(
            record: record,
            scheduler: SweepScheduler(spec: spec),
            task: task,
            features: definition.features ?? 1
        )
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
        let engine = try engineVersion(ofWorker: worker)
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
            if runtime.scheduler.isFinished {
                runtime.record = try store.setSweepState(id, to: .done, from: [.running], now: now)
                runtimes[id] = nil
                logger.info("sweep done", metadata: ["sweep.name": "\(runtime.record.name)"])
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
            anyActive = true
            let token = UUID().uuidString.lowercased() + "-" + UUID().uuidString.lowercased()
            let deadline = now + leaseSeconds
            var found: (TrialRecord, AttemptRecord, TrialConfig)?
            while found == nil, let assignment = runtime.scheduler.next() {
                switch assignment {
                case .requeued(let trialId, _):
                    let (trial, attempt) = try store.lease(trial: trialId, worker: worker, token: token, deadline: deadline, now: now)
                    found = (trial, attempt, try TrialConfig.decode(json: trial.configJson))
                case .new(let number, let config, let json):
                    do {
                        let (trial, attempt) = try store.addAndLease(
                            sweep: runtime.record.id!,
                            number: number,
                            config: config,
                            canonicalJSON: json,
                            worker: worker,
                            token: token,
                            deadline: deadline,
                            now: now
                        )
                        found = (trial, attempt, config)
                    } catch StoreError.duplicate(_) {
                        continue
                    }
                }
            }
            guard let (leased, attempt, config) = found else { continue }
            runtime.scheduler.started()
            leases[token] = LeaseInfo(attemptId: attempt.id!, trialId: leased.id!, trialNumber: leased.number, sweepId: id, config: config)
            let seed = runtime.scheduler.seed(forTrial: leased.number)
            let plan = try runtime.spec.trainingPlan(for: config, features: runtime.features, seed: seed)
            counters.leases += 1
            logger.info(
                "leased",
                metadata: [
                    "sweep.name": "\(runtime.record.name)", "trial.number": "\(leased.number)", "attempt": "\(attempt.number)",
                    "worker.id": "\(worker)",
                ]
            )
            return API.LeaseResponse(
                status: .leased,
                lease: API.Lease(
                    token: token,
                    deadline: attempt.leaseDeadline,
                    leaseSeconds: leaseSeconds,
                    sweep: runtime.record.name,
                    trialId: leased.id!,
                    trialNumber: leased.number,
                    attempt: attempt.number,
                    config: config,
                    task: runtime.spec.task(for: config, base: runtime.task),
                    model: plan.model,
                    training: plan.settings,
                    objective: API.Objective(runtime.spec.objective.metric)
                )
            )
        }
        return API.LeaseResponse(status: anyActive ? .noWork : .done, lease: nil, incompatible: incompatible.isEmpty ? nil : incompatible)
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
        let info = LeaseInfo(
            attemptId: attempt.id!,
            trialId: trial.id!,
            trialNumber: trial.number,
            sweepId: trial.sweepId,
            config: try TrialConfig.decode(json: trial.configJson)
        )
        leases[token] = info
        return (info, runtime)
    }

    /// Books the end of a lease in memory: one trial fewer running, maybe one more pending.
    func finished(_ token: String, _ runtime: Runtime, trial: TrialRecord) {
        if trial.state != .completed, let attempt = leases[token]?.attemptId { store.discardUpload(attempt: attempt) }
        leases[token] = nil
        runtime.scheduler.ended(number: trial.number, trialId: trial.id!, Self.attemptEnd(trial.state))
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
            let trial = try store.release(token: token, now: now)
            finished(token, runtime, trial: trial)
            return API.ReportResponse(action: .stop, deadline: now, reason: "sweep \(runtime.record.name) is \(runtime.record.state.rawValue)")
        }
        let decision = runtime.scheduler.report(trial: info.trialNumber, epoch: report.epoch, value: objective)
        if decision.prune {
            var detail: [String: Any] = ["rule": decision.rule.rawValue, "reason": decision.reason]
            for (k, v) in decision.numbers { detail[k] = v }
            let trial = try store.prune(token: token, detail: detail, now: now)
            finished(token, runtime, trial: trial)
            runtime.scheduler.observe(config: info.config, value: trial.bestValMetric ?? objective, pruned: true)
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
        let value = runtime.spec.objective.value(valMAE: request.valMae, valLoss: request.valLoss)
        let trial: TrialRecord
        do {
            trial = try store.complete(
                token: token,
                valMetric: value,
                bestEpoch: request.bestEpoch,
                testMetric: request.testMae,
                now: clock()
            )
        } catch let error as StoreError {
            if case .staleLease = error {
                counters.staleCalls += 1
                leases[token] = nil
            }
            throw error
        }
        finished(token, runtime, trial: trial)
        runtime.scheduler.observe(config: info.config, value: value, pruned: false)
        counters.completions += 1
        logger.info(
            "completed",
            metadata: [
                "sweep.name": "\(runtime.record.name)", "trial.number": "\(trial.number)", "metric.val": "\(value)",
                "metric.test": "\(request.testMae)",
            ]
        )
        return API.TrialStateResponse(trialId: trial.id!, state: API.TrialState(trial.state))
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
        let (_, runtime) = try leaseInfo(token)
        let trial = try store.fail(
            token: token,
            error: String(request.error.prefix(4000)),
            retryable: request.retryable,
            maxAttempts: runtime.spec.maxAttempts,
            now: clock()
        )
        finished(token, runtime, trial: trial)
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
        let (_, runtime) = try leaseInfo(token)
        let trial = try store.release(token: token, now: clock())
        finished(token, runtime, trial: trial)
        counters.releases += 1
        return API.TrialStateResponse(trialId: trial.id!, state: API.TrialState(trial.state))
    }

    /// Marks expired leases lost and requeues their trials. Called by the reaper.
    @discardableResult
    public func reap() throws -> Int {
        let expired = try store.expireLeases(now: clock()) { [runtimes] sweep in runtimes[sweep]?.spec.maxAttempts ?? 3 }
        counters.expirations += expired.count
        for t in expired {
            logger.warning("lease expired", metadata: ["trial.id": "\(t.id!)", "trial.state": "\(t.state.rawValue)"])
            if let token = leases.first(where: { $0.value.trialId == t.id })?.key, let runtime = runtimes[t.sweepId] {
                finished(token, runtime, trial: t)
            } else if let runtime = runtimes[t.sweepId] {
                runtime.scheduler.ended(number: t.number, trialId: t.id!, Self.attemptEnd(t.state))
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
            now: clock()
        )
        workerEngines[w.id] = .some(w.engineVersion)
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
