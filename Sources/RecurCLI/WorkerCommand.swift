import ArgumentParser
import CRecurSupport
import Foundation
import Logging
import RecurWorker

/// `recur worker`: trains leased trials.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Pull trials from a coordinator, train them, report every epoch and upload the best checkpoint.",
        discussion: """
            Datasets are downloaded from the coordinator by SHA-256 into --cache-dir, once per
            machine, and reused across sweeps and restarts; the worker needs no path and no copy.
            A worker token (recur token create --role worker) is all it needs over TCP.
            SIGINT/SIGTERM abandon the current epoch (the last one is finished), release the lease
            and exit 0: the trial starts again on another worker, no retry used.

            Examples:
              recur worker --coordinator https://10.0.0.5:7878 --ca-file ca.pem --token-file worker.token --slots 2
              recur worker --coordinator unix:/tmp/recur.sock
            """
    )

    @Option(help: "https://HOST:PORT, tcp://HOST:PORT (plain HTTP) or unix:PATH (or RECUR_COORDINATOR).") var coordinator: String?
    @Option(name: .customLong("token-file"), help: "A worker (or admin) token file (or RECUR_TOKEN_FILE); not needed on a Unix socket.")
    var tokenFile: String?
    @Option(name: .customLong("ca-file"), help: "PEM CA to trust for https:// (or RECUR_CA_FILE; default: the system's trust store).")
    var caFile: String?
    @Option(name: .customLong("cache-dir"), help: "Dataset cache (default: $XDG_CACHE_HOME/recur, else ~/.cache/recur).") var cacheDir: String?
    @Option(help: "Trials trained at once (one thread each).") var slots = 1
    @Option(help: "Only take trials of this sweep.") var sweep: String?
    @Flag(name: .customLong("exit-when-done"), help: "Exit when no sweep has work left.") var exitWhenDone = false
    @Option(
        name: .customLong("give-up-after"),
        help:
            "Exit non-zero when the coordinator stays unreachable this many seconds while the worker registers or waits for work (a batch job's allocation is not spent spinning; default: retry for ever, as a service should)."
    ) var giveUpAfter: Double?
    @Option(name: .customLong("log-level"), help: "Log level.") var logLevel = Logger.Level.info
    @Option(name: .customLong("parent-pid"), help: .hidden) var parentPID: Int32?

    func validate() throws {
        guard slots >= 1 else { throw ValidationError("--slots: \(slots) must be ≥ 1") }
        if let giveUpAfter, !(1...604_800).contains(giveUpAfter) {
            throw ValidationError("--give-up-after: \(giveUpAfter) must be from 1 to 604800 seconds (a week)")
        }
        if let sweep, !(1...200).contains(sweep.count) { throw ValidationError("--sweep: must be 1 to 200 characters, as sweep names are") }
        let target = coordinator ?? ProcessInfo.processInfo.environment["RECUR_COORDINATOR"] ?? "tcp://127.0.0.1:7878"
        guard CoordinatorAddress(target) != nil else {
            throw ValidationError("--coordinator: '\(target)' is not https://HOST:PORT, tcp://HOST:PORT (PORT 1–65535) or unix:PATH")
        }
    }

    func run() async throws {
        var logger = Logger(label: "recur.worker")
        logger.logLevel = logLevel
        let address = CoordinatorAddress(coordinator ?? ProcessInfo.processInfo.environment["RECUR_COORDINATOR"] ?? "tcp://127.0.0.1:7878")!
        let tokenPath = tokenFile ?? ProcessInfo.processInfo.environment["RECUR_TOKEN_FILE"]
        let token: String? = try tokenPath.map { try TokenFile.read(path: $0) }
        if token == nil && !address.isUnixSocket {
            throw CLIError("a TCP coordinator needs its token: pass --token-file FILE (or set RECUR_TOKEN_FILE)")
        }
        let client: CoordinatorClient
        do {
            client = try CoordinatorClient(
                address: address,
                token: token,
                caFile: caFile ?? ProcessInfo.processInfo.environment["RECUR_CA_FILE"],
                logger: logger
            )
        } catch { throw CLIError("\(error)") }
        var options = Worker.Options()
        if let cacheDir { options.cacheDirectory = URL(fileURLWithPath: cacheDir) }
        // Ready for systemd (Type=notify) once registered with the coordinator.
        options.onRegistered = { SystemdNotify.send("READY=1") }
        options.slots = slots
        options.sweep = sweep
        options.exitWhenDone = exitWhenDone
        options.giveUpAfter = giveUpAfter
        let worker = Worker(client: client, options: options, logger: logger)
        let signalLogger = logger
        try StopSignals.watch([SIGINT, SIGTERM]) { sig in
            signalLogger.notice("\(StopSignals.name(sig)): abandoning the current epoch, releasing the lease, exiting")
            worker.requestShutdown()
        }
        // `recur run` starts its workers with --parent-pid: if it is killed, they shut down too.
        // The death signal alone was seen to miss (a worker retried the dead socket for minutes),
        // so the parent is also watched; with it gone there is no coordinator to release to.
        if let parentPID {
            _ = recur_terminate_with_parent(parentPID)
            Task.detached {
                while getppid() == parentPID { try? await Task.sleep(for: .seconds(1)) }
                signalLogger.warning("recur run (pid \(parentPID)) is gone; exiting")
                worker.requestShutdown()
                try? await Task.sleep(for: .seconds(3))
                Foundation.exit(1)
            }
        }
        do { try await worker.run() } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        if let reason = worker.failureReason { throw CLIError(reason) }
    }
}
