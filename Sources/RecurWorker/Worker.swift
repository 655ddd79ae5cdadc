import Foundation
import Logging
import RecurAPI
import RecurEngine
import RecurForecast
import RecurSweep
import Synchronization

/// A worker process's trial loop: `slots` concurrent trials, each on its own thread.
///
/// Per trial: lease (long-poll) → load the task's dataset (its SHA-256 must match) → train,
/// reporting every epoch → complete with the restored-best checkpoint. Reports are queued in
/// order and retried while the coordinator is unreachable; training goes on meanwhile. A trial is
/// given up only when the coordinator says the lease is gone (409), prunes it, or stops the sweep.
/// On shutdown the current epoch finishes and the lease is released (no retry is used up).
public final class Worker: Sendable {
    public struct Options: Sendable {
        public var slots = 1
        public var sweep: String?
        public var exitWhenDone = false
        public var host = ProcessInfo.processInfo.hostName
        public var version = "recur-\(BuildInfo.version)"
        public init() {}
    }

    let client: any CoordinatorService
    let options: Options
    let logger: Logger
    let shuttingDown = Atomic<Bool>(false)
    let datasets = DatasetCache()
    let identity = WorkerIdentity()
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
    }

    /// Asks every slot to finish its current epoch, release its lease and stop.
    public func requestShutdown() { shuttingDown.store(true, ordering: .relaxed) }
    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }
    /// For ``retrying(logger:_:tries:giveUp:_:)``: stop retrying once shutdown was asked for.
    var onShutdown: @Sendable () -> Bool { { [self] in isShuttingDown } }

    /// Registers, then runs the slots until shutdown (or, with `exitWhenDone`, until no sweep has work).
    public func run() async throws {
        await identity.set(try await register())
        await withTaskGroup(of: Void.self) { group in
            for slot in 0..<options.slots {
                group.addTask { await self.slotLoop(slot: slot) }
            }
        }
    }

    /// Registers with the coordinator and returns the worker id it assigned.
    func register() async throws -> String {
        let request = API.RegisterRequest(host: options.host, slots: Int32(clamping: options.slots), version: options.version)
        let registration = try await retrying(logger: logger, "register", giveUp: onShutdown) {
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
                response = try await retrying(logger: logger, "lease", giveUp: onShutdown) { try await client.lease(request) }
            } catch CoordinatorCallError.status(404, .unknownSweep, let message) {
                // `--sweep` names no sweep: nothing this worker can do will change that.
                logger.error("lease refused; check --sweep", metadata: ["error": "\(message)"])
                stop(failing: "the coordinator has no sweep named '\(options.sweep ?? "")' (--sweep)")
                return
            } catch CoordinatorCallError.status(404, .unknownWorker, let message) {
                // The coordinator no longer knows this worker (its registry was reset): register again.
                logger.warning("coordinator does not know this worker; registering again", metadata: ["error": "\(message)"])
                do { try await identity.renew(replacing: workerId) { try await self.register() } } catch {
                    if isShuttingDown { return }
                }
                try? await Task.sleep(for: .seconds(1))
                continue
            } catch {
                if isShuttingDown { return }
                logger.error("lease failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            switch response.status {
            case .leased:
                guard let lease = response.lease else { continue }
                await runTrial(lease, slot: slot)
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

/// Prepared tasks keyed by their spec, so consecutive trials of a sweep load the CSV once.
actor DatasetCache {
    private var cache: [String: PreparedTask] = [:]

    func task(_ spec: TaskSpec) throws -> PreparedTask {
        let key = String(decoding: (try? API.encoder().encode(spec)) ?? Data(), as: UTF8.self)
        if let t = cache[key] { return t }
        let t = try PreparedTask.load(spec)
        if cache.count > 4 { cache.removeAll() }
        cache[key] = t
        return t
    }
}
