import ArgumentParser
import Foundation
import Logging
import RecurAPI
import RecurCoordinator
import RecurStore
import RecurSweep
import ServiceLifecycle
import Synchronization

/// `recur serve`: the coordinator.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the coordinator: SQLite store, samplers, pruners and the /v1 HTTP API for workers and the CLI.",
        discussion: """
            TCP listeners require a bearer token. The admin token is read from --token-file, or
            generated at first start into <db>.token (mode 0600); `recur token create` makes worker
            and viewer tokens. Unix sockets rely on file permissions (0600). With --tls-cert and
            --tls-key every TCP listener serves HTTPS (`recur tls init` makes a private CA and a
            certificate); without them, a non-loopback listener is plain HTTP and says so.

            Datasets are kept by SHA-256 in <db>.datasets/, checkpoints in <db>.checkpoints/.

            Examples:
              recur serve --db sweeps.db
              recur serve --db sweeps.db --listen tcp://0.0.0.0:7878 --tls-cert tls/server.pem --tls-key tls/server-key.pem
              recur serve --db sweeps.db --listen tcp://127.0.0.1:7878 --listen unix:/tmp/recur.sock
            """
    )

    @Option(help: "SQLite database (created if missing).") var db: String
    @Option(name: .customLong("listen"), help: "tcp://HOST:PORT or unix:PATH (repeatable). Default: tcp://127.0.0.1:7878.") var listen: [String] = []
    @Option(name: .customLong("token-file"), help: "File holding the admin token (default: <db>.token, created if missing).") var tokenFile: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS on the TCP listeners (with --tls-key).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(name: .customLong("max-dataset-bytes"), help: "Largest dataset `recur sweep create` may upload.") var maxDatasetBytes = API
        .maximumDatasetBytes
    @Option(name: .customLong("lease-seconds"), help: "Lease length; heartbeats and reports renew it.") var leaseSeconds = 30.0
    @Option(name: .customLong("idle-seconds"), help: "Close a connection with no request under way after this long.") var idleSeconds = 60
    @Option(name: .customLong("log-level"), help: "Log level.") var logLevel = Logger.Level.info
    @Option(
        name: .customLong("max-checkpoint-bytes"),
        help: "Largest checkpoint a worker may upload (streamed to disk); a worker whose checkpoint is refused completes without it."
    )
    var maxCheckpointBytes = API.maximumCheckpointBytes

    func validate() throws {
        for l in listen where Listener(l) == nil {
            throw ValidationError("--listen: '\(l)' is not tcp://HOST:PORT (PORT 0–65535) or unix:PATH (PATH under \(unixSocketPathLimit) bytes)")
        }
        guard (1...3600).contains(idleSeconds) else { throw ValidationError("--idle-seconds: \(idleSeconds) must be from 1 to 3600") }
        guard (1...86_400).contains(leaseSeconds) else { throw ValidationError("--lease-seconds: \(leaseSeconds) must be from 1 to 86400 (a day)") }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together: pass both (recur tls init writes server.pem and server-key.pem)")
        }
        guard maxDatasetBytes >= 1 else { throw ValidationError("--max-dataset-bytes: \(maxDatasetBytes) must be ≥ 1") }
        guard (4096...API.maximumCheckpointBytes).contains(maxCheckpointBytes) else {
            throw ValidationError("--max-checkpoint-bytes: \(maxCheckpointBytes) must be in 4096...\(API.maximumCheckpointBytes)")
        }
    }

    func run() async throws {
        var logger = Logger(label: "recur.serve")
        logger.logLevel = logLevel
        let listeners = listen.isEmpty ? [Listener.tcp(host: "127.0.0.1", port: 7878)] : listen.compactMap(Listener.init)
        // As `recur run`: the database's directory is created if missing, and the database is opened
        // (and locked) before a token file is written beside it.
        do {
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: db).deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch { throw CLIError("--db \(db): cannot create its directory (\(error.localizedDescription))") }
        let store: SweepStore
        do { store = try SweepStore(path: db) } catch let error as StoreError { throw CLIError("\(db): \(error)") } catch {
            throw CLIError("--db \(db): cannot open it as a Recur database (\(error)); pick a new file or an existing Recur database")
        }
        let lock = try DatabaseLock(path: db)
        defer { withExtendedLifetime(lock) {} }
        let token = try TokenFile.loadOrCreate(path: tokenFile ?? db + ".token")
        var tls: TLSFiles?
        if let tlsCert, let tlsKey {
            do { tls = try TLSFiles(certificate: tlsCert, key: tlsKey) } catch let error as ListenerError { throw CLIError(error.description) }
        }
        let coordinator = try Coordinator(store: store, leaseSeconds: leaseSeconds, logger: logger)
        let listening = Atomic<Int>(0)
        let services = try makeCoordinatorServices(
            coordinator: coordinator,
            listeners: listeners,
            access: AccessControl(adminToken: token, store: store),
            tls: tls,
            maximumCheckpointBytes: maxCheckpointBytes,
            maximumDatasetBytes: maxDatasetBytes,
            idleSeconds: idleSeconds,
            logger: logger
        ) { listener in
            FileHandle.standardOutput.write(Data("listening on \(listener)\n".utf8))
            // Ready for systemd (Type=notify) once every listener listens.
            if listening.add(1, ordering: .relaxed).newValue == listeners.count { SystemdNotify.send("READY=1") }
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        // Not the group's own signal handling, which misses signals on Linux (see StopSignals).
        let signalLogger = logger
        try StopSignals.watch([SIGINT, SIGTERM]) { sig in
            signalLogger.notice("\(StopSignals.name(sig)): shutting down")
            Task { await group.triggerGracefulShutdown() }
        }
        try await group.run()
    }
}

/// The bearer token file: 32 random bytes as hex, mode 0600.
enum TokenFile {
    static func loadOrCreate(path: String) throws -> String {
        // An existing file is only ever read: one that is no token (another file named by
        // mistake, the database itself) is an error, never replaced.
        if FileManager.default.fileExists(atPath: path) { return try read(path: path) }
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot create token file \(path)")
        }
        return token
    }

    static func read(path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError(
                "cannot read token file \(path); pass the coordinator's token with --token-file (it lives beside its database as <db>.token)"
            )
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw CLIError("token file \(path) is empty; delete it (recur serve writes a new one) or give the right file") }
        // A bearer token is one line of visible ASCII, short enough for an HTTP header.
        guard token.utf8.count <= 1024, token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw CLIError("token file \(path) does not hold a token (one line of at most 1024 visible ASCII characters); give the right file")
        }
        return token
    }
}
