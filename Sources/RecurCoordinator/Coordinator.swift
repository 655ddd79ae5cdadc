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
