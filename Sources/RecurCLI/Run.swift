import ArgumentParser
import Foundation
import Logging
import RecurAPI
import RecurCoordinator
import RecurForecast
import RecurStore
import RecurSweep
import ServiceLifecycle
import Synchronization

/// `recur run`: a whole sweep on this machine.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a sweep on this machine: an embedded coordinator and one worker process per core.",
        discussion: """
            Shows live progress, then the leaderboard. Ctrl-C stops cleanly (workers drop the epoch
            under way and hand their trials back); running the same command again resumes the sweep,
            handing back trials a killed run left behind. Raise max_trials in the file to extend a
            finished sweep. A relative task.dataset is read from the current directory, else from
            the sweep file's. One recur run per database: its trials left running are taken as
            orphans, so do not point it at a database that recur serve is using.

            Examples:
              recur run sweeps/quickstart.yaml
              recur run sweeps/lecture.yaml --workers 2 --db runs/lecture.db
            """
    )

    @Argument(help: "Sweep file (YAML).") var file: String
    @Option(help: "Worker processes (default: one per core).") var workers: Int?
    @Option(help: "SQLite database.") var db = ".recur/recur.db"
    @Option(help: "Leaderboard rows to show at the end.") var top = 10

    func validate() throws {
        if let workers, !(1...1024).contains(workers) {
            throw ValidationError("--workers: \(workers) must be from 1 to 1024 (processes on this machine)")
        }
        guard top >= 1 else { throw ValidationError("--top: \(top) must be ≥ 1") }
    }

    /// Where a relative `task.dataset` is read from, by `sweep create`'s search
    /// (``Sweep/Create/locate(_:sweepFile:)``): the current directory, else the sweep file's (nil:
    /// the current one, which names the path if neither holds it).
    static func datasetDirectory(_ dataset: String, sweepFile: String) -> URL? {
        guard let found = try? Sweep.Create.locate(dataset, sweepFile: sweepFile), found != URL(fileURLWithPath: dataset) else { return nil }
        return URL(fileURLWithPath: sweepFile).deletingLastPathComponent()
    }

    func run() async throws {
        let (spec, yaml) = try SweepSpec.load(path: file)
        let dbURL = URL(fileURLWithPath: db)
        try FileManager.default.createDirectory(at: dbURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        var logger = Logger(label: "recur.run")
        logger.logLevel = .warning
        let store: SweepStore
        do { store = try SweepStore(path: db) } catch let error as StoreError { throw CLIError("\(db): \(error)") }
        let lock = try DatabaseLock(path: db)
        defer { withExtendedLifetime(lock) {} }
        // A new sweep reads its dataset; name both places looked in when neither holds it.
        if (try? store.sweep(named: spec.name)) == nil { _ = try Sweep.Create.locate(spec.task.dataset, sweepFile: file) }
        let coordinator = try Coordinator(
            store: store,
            leaseSeconds: 30,
            datasetDirectory: Self.datasetDirectory(spec.task.dataset, sweepFile: file),
            logger: logger
        )
        // The workers of an earlier `recur run` on this database died with it.
        let handedBack = try await coordinator.releaseOrphans()
        let opening: Coordinator.Opening
        do { opening = try await coordinator.open(spec, yaml: yaml, source: file) } catch let error as SweepSpecError {
            throw CLIError(error.problems.map { "\(db): \($0)" }.joined(separator: "\n"))
        }
        switch opening {
        case .created:
            print("sweep \(spec.name): \(spec.search.method.rawValue) search, up to \(spec.search.maxTrials) trials, database \(db)")
            if let from = spec.search.warmStartSweep,
                let event = try store.events(sweep: try store.sweep(named: spec.name).id!).last(where: { $0.kind == "warm_started" }),
                let detail = try? JSONSerialization.jsonObject(with: Data(event.detailJson.utf8)) as? [String: Any]
            {
                print(
                    "warm start: \(detail["used"] as? Int ?? 0) finished trial(s) of sweep \(from) fed to TPE, \(detail["skipped"] as? Int ?? 0) skipped (outside this space)"
                )
            }
        case .resumed(let before, let after):
            if let before, let after { print("sweep \(spec.name): max_trials \(before) → \(after)") }
            print("resuming sweep \(spec.name) from \(db)" + (handedBack == 0 ? "" : " (\(handedBack) trial(s) of the last run handed back)"))
        }

        // Beside the database when the path fits a Unix socket address (108 bytes), else in /tmp.
        var socket = dbURL.deletingLastPathComponent().appendingPathComponent("recur-\(getpid()).sock").path
        if socket.utf8.count > 100 { socket = "/tmp/recur-\(getpid()).sock" }
        let (ready, readyContinuation) = AsyncStream<Listener>.makeStream()
        let services = try makeCoordinatorServices(
            coordinator: coordinator,
            listeners: [.unix(path: socket)],
            access: AccessControl(adminToken: "", store: store),
            logger: logger
        ) {
            readyContinuation.yield($0)
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        let server = Task {
            defer { readyContinuation.finish() }
            try await group.run()
        }
        var iterator = ready.makeAsyncIterator()
        guard await iterator.next() != nil else {
            do { try await server.value } catch { throw CLIError("the embedded coordinator could not listen on \(socket): \(error)") }
            throw CLIError("the embedded coordinator stopped before listening on \(socket)")
        }
        defer { try? FileManager.default.removeItem(atPath: socket) }

        let count = workers ?? ProcessInfo.processInfo.activeProcessorCount
        var children: [Process] = []
        for i in 0..<count {
            let p = Process()
            #if os(Linux)
            p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            #else
            p.executableURL = Bundle.main.executableURL
            #endif
            p.arguments = [
                "worker", "--coordinator", "unix:\(socket)", "--sweep", spec.name, "--exit-when-done", "--log-level", "warning", "--parent-pid",
                String(getpid()),
            ]
            let log = dbURL.deletingLastPathComponent().appendingPathComponent("worker-\(i + 1).log").path
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: log)
            p.standardError = FileHandle(forWritingAtPath: log)
            try p.run()
            children.append(p)
        }

        // The signal thread sets a flag the loop below polls (measured: `recur run` started in the
        // background ignored SIGINT and SIGTERM with a DispatchSource; see StopSignals).
        let interrupted = InterruptFlag()
        try StopSignals.watch([SIGINT, SIGTERM, SIGHUP]) { _ in stopRequested.store(true, ordering: .relaxed) }

        let progress = SweepProgress(live: isatty(1) != 0, maxTrials: spec.search.maxTrials)
        while true {
            if stopRequested.load(ordering: .relaxed) && interrupted.set() {
                FileHandle.standardError.write(Data("\nstopping: workers drop the epoch under way and hand their trials back…\n".utf8))
                for c in children where c.isRunning { kill(c.processIdentifier, SIGTERM) }
            }
            let summary = try coordinator.summary(named: spec.name)
            progress.show(summary)
            if summary.state == .done || children.allSatisfy({ !$0.isRunning }) { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        for c in children { c.waitUntilExit() }
        progress.show(try coordinator.summary(named: spec.name), final: true)
        await group.triggerGracefulShutdown()
        _ = try? await server.value

        let last = try coordinator.summary(named: spec.name)
        let rows = try coordinator.leaderboard(sweep: spec.name, top: top)
        print("")
        print(LeaderboardTable.table(rows, unit: "", objective: API.Objective(spec.objective.metric)))
        // Stored with the sweep when it was created; read from the dataset only for older sweeps.
        let b = (try? coordinator.store.sweep(named: spec.name).definitionJson.baselines) ?? (try? PreparedTask.load(spec.task).baselines())
        if let b {
            print(
                String(
                    format: "\nbaselines (%@): persistence val %.3f / test %.3f, train mean val %.3f / test %.3f",
                    spec.task.target,
                    b.persistence.valMAE,
                    b.persistence.testMAE,
                    b.trainMean.valMAE,
                    b.trainMean.testMAE
                )
            )
        }
        // Say it plainly: a sweep whose best model loses to "tomorrow is like today" found nothing.
        if let skill = last.bestValSkill, skill <= 0, let persistence = last.persistenceValMae, let best = last.bestValMae {
            print(
                String(
                    format: "\nno trial beats persistence on validation: the best val MAE is %.3f against persistence's %.3f (skill %@)",
                    best,
                    persistence,
                    LeaderboardTable.skill(skill)
                )
            )
        }
        if let reason = last.stopReason { print("\n" + SweepSummaryTable.stopLine(reason, state: last.state)) }
        if interrupted.isSet {
            print("\nstopped; run the same command again to resume")
        } else if last.state == .running {
            let logs = (1...count).map { dbURL.deletingLastPathComponent().appendingPathComponent("worker-\($0).log").path }
            FileHandle.standardError.write(
                Data(
                    "\nthe workers exited before the sweep finished (see \(logs.joined(separator: ", "))); run the same command again to resume\n"
                        .utf8
                )
            )
            throw ExitCode(1)
        }
    }
}

/// Set on SIGINT, SIGTERM and SIGHUP by `recur run`.
let stopRequested = Atomic<Bool>(false)

/// Set once, when the stop is acted on.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    /// True the first time.
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let first = !value
        value = true
        return first
    }
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// A live progress line on a terminal; plain lines when something changes otherwise.
final class SweepProgress {
    let live: Bool
    let maxTrials: Int
    /// Off a terminal, a line is printed when the counts or the best change, at most this often.
    let quietInterval: Double
    private var lastCounts = ""
    private var lastPrinted = -Double.infinity

    init(live: Bool, maxTrials: Int, quietInterval: Double = 10) {
        self.live = live
        self.maxTrials = maxTrials
        self.quietInterval = quietInterval
    }

    /// The ETA is the coordinator's: running trials' reported epochs count, so it does not climb
    /// while the first trials run.
    func show(_ s: API.SweepSummary, final: Bool = false, now: Double = Date().timeIntervalSince1970) {
        let finished = s.completed + s.pruned + s.failed
        let eta = s.etaSeconds.map { " · ETA \(Sweep.Plan.duration($0))" } ?? ""
        let best = s.bestValMae.map { String(format: " · best %@ %.3f (trial %d)", s.objective.label, $0, s.bestTrial ?? -1) } ?? ""
        let counts = "\(finished)/\(maxTrials) trials: \(s.completed) done, \(s.running) running, \(s.pruned) pruned, \(s.failed) failed\(best)"
        if live {
            FileHandle.standardOutput.write(Data("\r\u{1B}[2K\(counts)\(eta)\(final ? "\n" : "")".utf8))
        } else if final || (counts != lastCounts && now - lastPrinted >= quietInterval) {
            print(counts + eta)
            lastCounts = counts
            lastPrinted = now
        }
    }
}
