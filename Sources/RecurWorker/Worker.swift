import Foundation
import Logging
import RecurAPI
import RecurEngine
import RecurForecast
import RecurSweep
import Synchronization

/// A worker process's trial loop: `slots` concurrent trials, each on its own thread.
///
/// Per trial: lease (long-poll) → fetch the task's dataset by its SHA-256 into the cache (once
/// per machine) → train,
/// reporting every epoch → complete with the restored-best checkpoint. Reports are queued in
/// order and retried while the coordinator is unreachable; training goes on meanwhile. A trial is
/// given up only when the coordinator says the lease is gone (409), prunes it, or stops the sweep.
/// On shutdown the current epoch is abandoned (unless it is the last) and the lease released (no
/// retry is used up): the trial starts over on another worker.
public final class Worker: Sendable {
    public struct Options: Sendable {
        public var slots = 1
        public var sweep: String?
        public var exitWhenDone = false
        public var host = ProcessInfo.processInfo.hostName
        public var version = "recur-\(BuildInfo.version)"
        public var engineVersion = BuildInfo.engineVersion
        /// Where datasets are cached by hash (`--cache-dir`).
        public var cacheDirectory = DatasetCache.defaultDirectory()
        /// Seconds the coordinator may stay unreachable while the worker registers or waits for
        /// work before it stops with an error (`--give-up-after`); nil: retry for ever.
        public var giveUpAfter: Double?
        /// Called once the coordinator has registered the worker (readiness for systemd).
        public var onRegistered: (@Sendable () -> Void)?
        public init() {}
    }

    let client: any CoordinatorService
    let options: Options
    let logger: Logger
    let shuttingDown = Atomic<Bool>(false)
    let datasets: DatasetCache
    /// Sweeps already reported as pinning another engine, so each is logged once.
    let incompatibleLogged = Mutex<Set<String>>([])
    let identity = WorkerIdentity()
    /// Slots training a trial now: `--give-up-after` never stops the worker under them.
    let training = Atomic<Int>(0)
    let failure = Mutex<String?>(nil)
    /// Why the worker stopped on a configuration error (the CLI exits non-zero), or nil.
    public var failureReason: String? { failure.withLock { $0 } }

    /// Stops every slot because of a configuration error that retrying cannot fix.
    func stop(failing reason: String) {
        failure.withLock { if $0 == nil { $0 = reason } }
        requestShutdown()
    }

    public init(client: any CoordinatorService, options: Options, logger: Logger) {
        self.client = client
        self.options = options
        self.logger = logger
        datasets = DatasetCache(directory: options.cacheDirectory, logger: logger)
    }

    /// Asks every slot to abandon its current epoch, release its lease and stop.
    public func requestShutdown() { shuttingDown.store(true, ordering: .relaxed) }
    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }
    /// For ``retrying(logger:_:tries:seconds:giveUp:_:)``: stop retrying once shutdown was asked for.
    var onShutdown: @Sendable () -> Bool { { [self] in isShuttingDown } }

    /// Registers, then runs the slots until shutdown (or, with `exitWhenDone`, until no sweep has work).
    public func run() async throws {
        do { await identity.set(try await register()) } catch let error as CoordinatorCallError where error.isTransient && options.giveUpAfter != nil
        {
            // A signal during the outage stops retrying too; that is no give-up.
            if !isShuttingDown { stop(failing: giveUpMessage(error)) }
            return
        }
        options.onRegistered?()
        await withTaskGroup(of: Void.self) { group in
            for slot in 0..<options.slots {
                group.addTask { await self.slotLoop(slot: slot) }
            }
        }
    }

    /// The one line a worker exits with when `--give-up-after` ran out.
    func giveUpMessage(_ error: CoordinatorCallError) -> String {
        "gave up after \(Int(options.giveUpAfter ?? 0)) s without an answer from the coordinator (--give-up-after); last error: \(error)"
    }

    /// Registers with the coordinator and returns the worker id it assigned.
    func register() async throws -> String {
        let request = API.RegisterRequest(
            host: options.host,
            slots: Int32(clamping: options.slots),
            version: options.version,
            engineVersion: options.engineVersion,
            checkpointFormat: BuildInfo.checkpointFormat,
            cpuFeatures: BuildInfo.cpuFeatures,
            trainsRuns: true
        )
        let registration = try await retrying(logger: logger, "register", seconds: options.giveUpAfter, giveUp: onShutdown) {
            try await client.register(request)
        }
        logger.info(
            "registered",
            metadata: ["worker.id": "\(registration.workerId)", "coordinator": "\(client.address)", "slots": "\(options.slots)"]
        )
        return registration.workerId
    }

    func slotLoop(slot: Int) async {
        while !isShuttingDown {
            let response: API.LeaseResponse
            let workerId = await identity.id
            do {
                let request = API.LeaseRequest(workerId: workerId, sweep: options.sweep, waitSeconds: 5)
                response = try await retrying(logger: logger, "lease", seconds: options.giveUpAfter, giveUp: onShutdown) {
                    try await client.lease(request)
                }
            } catch CoordinatorCallError.status(409, .engineMismatch, let message) {
                // `--sweep` names a sweep pinned to another engine: this worker must not train it.
                logger.error("lease refused: the sweep pins another engine; upgrade recur on this worker", metadata: ["error": "\(message)"])
                stop(failing: message)
                return
            } catch CoordinatorCallError.configuration(let message) {
                logger.error("cannot talk to the coordinator", metadata: ["error": "\(message)"])
                stop(failing: message)
                return
            } catch CoordinatorCallError.status(404, .unknownSweep, let message) {
                // `--sweep` names no sweep: nothing this worker can do will change that.
                logger.error("lease refused; check --sweep", metadata: ["error": "\(message)"])
                stop(failing: "the coordinator has no sweep named '\(options.sweep ?? "")' (--sweep)")
                return
            } catch CoordinatorCallError.status(400, _, let message) {
                // The request itself is refused (a --sweep name out of bounds): asking again cannot help.
                logger.error("lease refused as malformed", metadata: ["error": "\(message)"])
                stop(failing: "the coordinator refused the lease request: \(message)")
                return
            } catch CoordinatorCallError.status(404, .unknownWorker, let message) {
                // The coordinator no longer knows this worker (its registry was reset): register again.
                logger.warning("coordinator does not know this worker; registering again", metadata: ["error": "\(message)"])
                do { try await identity.renew(replacing: workerId) { try await self.register() } } catch {
                    if isShuttingDown { return }
                }
                try? await Task.sleep(for: .seconds(1))
                continue
            } catch let error as CoordinatorCallError where error.isTransient && options.giveUpAfter != nil {
                if isShuttingDown { return }
                if training.load(ordering: .relaxed) > 0 {
                    // Another slot's trial is kept (the coordinator extends leases after an outage):
                    // this one waits with it, and gives up once no slot trains.
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                logger.error("giving up: the coordinator stays unreachable", metadata: ["error": "\(error)"])
                stop(failing: giveUpMessage(error))
                return
            } catch {
                if isShuttingDown { return }
                logger.error("lease failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            for skipped in response.incompatible ?? [] where incompatibleLogged.withLock({ $0.insert(skipped.sweep).inserted }) {
                logger.warning(
                    "skipping a sweep pinned to another engine; install recur with that engine on this worker to train it",
                    metadata: ["sweep": "\(skipped.sweep)", "sweep.engine": "\(skipped.engineVersion)", "worker.engine": "\(options.engineVersion)"]
                )
            }
            switch response.status {
            case .leased:
                guard let lease = response.lease else { continue }
                training.add(1, ordering: .relaxed)
                await runTrial(lease, slot: slot)
                training.subtract(1, ordering: .relaxed)
            case .done:
                if options.exitWhenDone {
                    logger.info("no sweep has work left; slot \(slot) exits")
                    return
                }
                try? await Task.sleep(for: .seconds(1))
            case .noWork:
                continue
            }
        }
    }
}

/// The id the coordinator gave this worker, shared by its slots. When the coordinator forgets
/// the worker, the first slot to notice registers again and the others take the new id.
actor WorkerIdentity {
    private(set) var id = ""
    private var renewal: Task<String, Error>?

    func set(_ id: String) { self.id = id }

    func renew(replacing stale: String, register: @escaping @Sendable () async throws -> String) async throws {
        guard id == stale else { return }
        let task = renewal ?? Task { try await register() }
        renewal = task
        defer { renewal = nil }
        id = try await task.value
    }
}
