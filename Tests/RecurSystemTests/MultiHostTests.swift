import Foundation
import RecurEngine
import RecurForecast
import RecurStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Workers anywhere: five hosts as network namespaces on one bridge — a coordinator serving HTTPS
/// with a TLS certificate of its own, three worker hosts with nothing but a CA file and a worker
/// token, a laptop holding the dataset. Proves that a sweep created from the laptop runs on workers
/// that never had the dataset (each host downloads it once, even with two workers sharing a
/// cache), that roles hold (viewers read but cannot cancel, workers cannot read), that cleartext
/// against the TLS listener fails cleanly, and that the best checkpoint exports over HTTPS.
/// Needs root, iproute2 (ip netns, bridges) and curl: skips with a message elsewhere, fails in CI.
@Suite(.serialized, .systemTestSlot) struct MultiHostTests {
    static let curl = SystemTools.find(["/usr/bin/curl", "curl"])
    static let available = NetworkPartitionTests.available && curl != nil

    @Test(.enabled(if: SystemTools.shouldRun(available), "needs root, iproute2 (ip netns, bridges) and curl to build five test hosts"))
    func workersAnywhere() async throws {
        try #require(Self.available, "needs root, iproute2 and curl; .ci/run installs iproute2 and CI runs as root")
        let curl = try #require(Self.curl)
        // Only for its dataset and sweep text; its temporary directory holds every host's directory.
        let cluster = try Cluster(rows: 3000)
        defer { cluster.stopAll() }
        let net = TestNetwork(root: cluster.dir)
        defer { net.teardown() }
        net.teardown()  // leftovers of an earlier run with this pid
        try net.build()
        var processes: [Process] = []
        defer { for p in processes { stop(p) } }
        let files = FileManager.default
        for host in TestNetwork.hosts + ["logs", "tls"] { try files.createDirectory(at: net.dir(host), withIntermediateDirectories: true) }
        let laptop = net.dir("laptop")
        try files.moveItem(at: cluster.dir.appendingPathComponent("series.csv"), to: laptop.appendingPathComponent("series.csv"))
        let sha = sha256Hex(try Data(contentsOf: laptop.appendingPathComponent("series.csv")))

        // The coordinator: its own certificate, HTTPS on its namespace's address, an empty directory.
        let coordinator = net.address("coord")
        let port = Cluster.freePort()
        let url = "https://\(coordinator):\(port)"
        let tls = net.dir("tls")
        let tlsInit = try await RecurBinary.run(["tls", "init", "--host", coordinator, "--out", tls.path], directory: cluster.dir)
        try #require(tlsInit.status == 0, "tls init: \(tlsInit.stderr)")
        let keyMode = try files.attributesOfItem(atPath: tls.appendingPathComponent("server-key.pem").path)[.posixPermissions] as? Int
        #expect(keyMode == 0o600, "the server key is readable by others: \(String(keyMode ?? 0, radix: 8))")
        let again = try await RecurBinary.run(["tls", "init", "--host", coordinator, "--out", tls.path], directory: cluster.dir)
        #expect(again.status != 0 && again.stderr.contains("exists"), "tls init overwrote its files: \(again.stderr)")
        let db = net.dir("coord").appendingPathComponent("r.db").path
        let serve = [
            "serve", "--db", db, "--listen", "tcp://\(coordinator):\(port)",
            "--tls-cert", tls.appendingPathComponent("server.pem").path, "--tls-key", tls.appendingPathComponent("server-key.pem").path,
        ]
        processes.append(try net.spawn("coord", [recur] + serve, log: "serve"))
        try await net.waitFor("the coordinator listening", timeout: 30, logs: ["serve"]) {
            net.log("serve").contains("listening on tcp://\(coordinator):\(port)")
        }

        // Tokens, made on the database; each host gets its own, and the CA certificate.
        func token(_ role: String, _ name: String) async throws -> String {
            let r = try await RecurBinary.run(["token", "create", "--role", role, "--name", name, "--db", db], directory: cluster.dir)
            try #require(r.status == 0, "token create --role \(role): \(r.stderr)")
            let last = r.stdout.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) }
            return try #require(last, "token create --role \(role) printed nothing")
        }
        let ca = tls.appendingPathComponent("ca.pem")
        for host in ["w1", "w2", "w3"] {
            try await writeSecret(try token("worker", host), to: net.dir(host).appendingPathComponent("worker.token"))
            try files.copyItem(at: ca, to: net.dir(host).appendingPathComponent("ca.pem"))
        }
        let viewer = try await token("viewer", "laptop-viewer")
        try writeSecret(viewer, to: laptop.appendingPathComponent("viewer.token"))
        try writeSecret(try String(contentsOfFile: db + ".token", encoding: .utf8), to: laptop.appendingPathComponent("admin.token"))
        try files.copyItem(at: ca, to: laptop.appendingPathComponent("ca.pem"))
        try Data(cluster.sweepYAML(trials: 4, parallel: 4, epochs: 3).utf8).write(to: laptop.appendingPathComponent("sweep.yaml"))

        // The laptop creates the sweep (uploading its dataset) and holds it paused until every
        // worker waits for a lease, so each of the four takes one of the four trials. (Workers with
        // --exit-when-done started before any sweep exists would exit at once.)
        let https = ["--coordinator", url, "--ca-file", "ca.pem"]
        let admin = https + ["--token-file", "admin.token"]
        let asViewer = https + ["--token-file", "viewer.token"]
        let created = try await net.run("laptop", [recur, "sweep", "create", "sweep.yaml"] + admin)
        try #require(created.status == 0 && !created.timedOut, "sweep create exited \(created.status): \(created.stdout) \(created.stderr)")
        let paused = try await net.run("laptop", [recur, "sweep", "pause", "it"] + admin)
        try #require(paused.status == 0, "sweep pause: \(paused.stderr)")

        // Four worker processes on three hosts; w1's two share one cache.
        let workerArgs = [recur, "worker", "--slots", "1", "--exit-when-done"] + https + ["--token-file", "worker.token"]
        let workers: [(host: String, log: String)] = [("w1", "w1a"), ("w1", "w1b"), ("w2", "w2"), ("w3", "w3")]
        var workerProcesses: [Process] = []
        for w in workers {
            let home = net.dir(w.host)
            let env = ["HOME": home.path, "XDG_CACHE_HOME": home.appendingPathComponent("cache").path]
            let p = try net.spawn(w.host, workerArgs, log: w.log, env: env)
            processes.append(p)
            workerProcesses.append(p)
        }
        let store = try SweepStore(path: db)
        let allLogs = ["serve"] + workers.map(\.log)
        try await net.waitFor("four workers to register", timeout: 60, logs: allLogs) { try store.workers().count >= workers.count }
        try await Task.sleep(for: .milliseconds(500))
        let resumed = try await net.run("laptop", [recur, "sweep", "resume", "it"] + admin)
        try #require(resumed.status == 0, "sweep resume: \(resumed.stderr)")
        try await net.waitFor("the sweep to finish on three worker hosts", timeout: 240, logs: allLogs) {
            try store.sweep(named: "it").state == .done
        }
        try await net.waitFor("the workers to exit", timeout: 60, logs: allLogs) { !workerProcesses.contains(where: \.isRunning) }
        try checkCompletedExactlyOnce(store, trials: 4)
        for (w, p) in zip(workers, workerProcesses) {
            #expect(p.terminationReason == .exit && p.terminationStatus == 0, "worker \(w.log) exited \(p.terminationStatus): \(net.log(w.log))")
        }

        // Each host downloaded the dataset once, into its cache, and nowhere else.
        for host in ["w1", "w2", "w3"] {
            let datasets = net.dir(host).appendingPathComponent("cache/recur/datasets")
            let cached = (try? files.contentsOfDirectory(atPath: datasets.path))?.filter { !$0.hasSuffix(".lock") }
            #expect(cached == ["\(sha).csv"], "\(host)'s cache holds \(cached ?? [])")
            let copy = try? Data(contentsOf: datasets.appendingPathComponent("\(sha).csv"))
            #expect(copy.map(sha256Hex) == sha, "\(host)'s cached dataset differs from the laptop's")
            let hostFiles = (try? files.contentsOfDirectory(atPath: net.dir(host).path))?.sorted()
            #expect(hostFiles == ["ca.pem", "cache", "worker.token"], "\(host)'s directory holds \(hostFiles ?? [])")
            let logs = workers.filter { $0.host == host }.map { net.log($0.log) }.joined(separator: "\n")
            let downloads = logs.components(separatedBy: "dataset downloaded").count - 1
            #expect(downloads == 1, "\(host) downloaded the dataset \(downloads) times")
            #expect(logs.contains("dataset.sha256=\(sha)"), "\(host)'s logs never name the dataset's SHA-256")
        }
        let bearer = "Authorization: Bearer \(viewer)"
        let metrics = try await net.run("laptop", [curl, "-sS", "--max-time", "20", "--cacert", "ca.pem", "-H", bearer, url + "/metrics"])
        let served = metrics.stdout.split(separator: "\n").first { $0.hasPrefix("recur_dataset_downloads_total ") }
        #expect(served.flatMap { Double($0.split(separator: " ").last ?? "") } == 3, "metrics: \(served ?? "none") \(metrics.stderr)")

        // A viewer reads the leaderboard but cannot cancel; the sweep stays done.
        let board = try await net.run("laptop", [recur, "leaderboard", "it", "--format", "json"] + asViewer)
        #expect(board.status == 0, "viewer leaderboard: \(board.stderr)")
        let rows = try #require(try? JSONSerialization.jsonObject(with: Data(board.stdout.utf8)) as? [[String: Any]], "\(board.stdout)")
        #expect(rows.count == 4)
        let cancel = try await net.run("laptop", [recur, "sweep", "cancel", "it"] + asViewer)
        #expect(cancel.status != 0 && !cancel.timedOut, "a viewer cancelled the sweep: \(cancel.stdout)")
        #expect(refused(cancel.stderr), "viewer cancel: \(cancel.stderr)")
        #expect(cancel.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "\(cancel.stderr)")
        #expect(try store.sweep(named: "it").state == .done)

        // A worker token does not read results.
        let asWorker = try await net.run("w2", [recur, "leaderboard", "it"] + https + ["--token-file", "worker.token"])
        #expect(asWorker.status != 0 && refused(asWorker.stderr), "worker token read the leaderboard: \(asWorker.stdout) \(asWorker.stderr)")

        // Cleartext against the TLS listener fails, and promptly.
        let cleartext = [recur, "status", "--coordinator", "tcp://\(coordinator):\(port)", "--token-file", "admin.token"]
        let plain = try await net.run("laptop", cleartext, timeout: 30)
        #expect(!plain.timedOut, "a cleartext client hung against the TLS listener")
        #expect(plain.status != 0, "a cleartext client got an answer: \(plain.stdout)")

        // The admin exports the best trial's checkpoint over HTTPS: a safetensors file.
        let best = try #require(rows.first?["trial_id"] as? Int, "\(rows)")
        let export = try await net.run("laptop", [recur, "export", String(best), "-o", "best.safetensors"] + admin)
        try #require(export.status == 0, "export: \(export.stderr)")
        let checkpoint = laptop.appendingPathComponent("best.safetensors")
        let bytes = try Data(contentsOf: checkpoint)
        try #require(bytes.count > 8, "the exported checkpoint has \(bytes.count) bytes")
        let headerLength = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        try #require(headerLength > 0 && headerLength <= UInt64(bytes.count - 8), "safetensors header length \(headerLength) of \(bytes.count) bytes")
        let header = bytes.subdata(in: 8..<(8 + Int(headerLength)))
        #expect((try? JSONSerialization.jsonObject(with: header)) is [String: Any], "the safetensors header is not a JSON object")
        let (model, metadata) = try Checkpoint.load(from: checkpoint)
        #expect(model.spec.inputFeatures == 2 && metadata["sweep"] == "it")
    }
}

private let recur = RecurBinary.url.path

/// Five hosts (`coord`, `w1`, `w2`, `w3`, `laptop`): network namespaces joined by veth pairs to a
/// bridge in the root namespace, at 10.214.K.1…5/24; each with a directory under `root`.
private struct TestNetwork {
    static let hosts = ["coord", "w1", "w2", "w3", "laptop"]
    let root: URL
    let pid = Int(getpid())

    var bridge: String { "rbr\(pid % 100_000)" }
    func namespace(_ host: String) -> String { "recur-\(host)-\(pid)" }
    func index(_ host: String) -> Int { (Self.hosts.firstIndex(of: host) ?? 0) + 1 }
    func address(_ host: String) -> String { "10.214.\(pid % 200 + 20).\(index(host))" }
    /// Interface names (at most 15 characters): `rv12345h1` in the root namespace, `rv12345n1` in the host's.
    func veth(_ host: String) -> (outside: String, inside: String) { ("rv\(pid % 100_000)h\(index(host))", "rv\(pid % 100_000)n\(index(host))") }
    func dir(_ host: String) -> URL { root.appendingPathComponent(host) }
    func log(_ name: String) -> String { (try? String(contentsOf: dir("logs").appendingPathComponent(name + ".log"), encoding: .utf8)) ?? "" }

    func build() throws {
        func ip(_ args: [String]) throws {
            guard NetworkPartitionTests.sh(args) == 0 else { throw ClusterError("ip \(args.joined(separator: " ")) failed") }
        }
        for host in Self.hosts { try ip(["netns", "add", namespace(host)]) }
        try ip(["link", "add", bridge, "type", "bridge"])
        try ip(["link", "set", bridge, "up"])
        for host in Self.hosts {
            let (outside, inside) = veth(host)
            let ns = namespace(host)
            for args in [
                ["link", "add", outside, "type", "veth", "peer", "name", inside], ["link", "set", inside, "netns", ns],
                ["link", "set", outside, "master", bridge], ["link", "set", outside, "up"],
                ["-n", ns, "addr", "add", "\(address(host))/24", "dev", inside], ["-n", ns, "link", "set", inside, "up"],
                ["-n", ns, "link", "set", "lo", "up"],
            ] {
                try ip(args)
            }
        }
    }

    /// Removes whatever `build` made, however far it got.
    func teardown() {
        for host in Self.hosts { _ = NetworkPartitionTests.sh(["link", "del", veth(host).outside]) }
        _ = NetworkPartitionTests.sh(["link", "del", bridge])
        for host in Self.hosts { _ = NetworkPartitionTests.sh(["netns", "del", namespace(host)]) }
    }

    /// Starts `argv` inside `host`'s namespace, in its directory, with stdout (and stderr, unless
    /// `errors` names another log) appended to `logs/<log>.log`.
    func spawn(_ host: String, _ argv: [String], log: String, errors: String? = nil, env: [String: String] = [:]) throws -> Process {
        func handle(_ name: String) throws -> FileHandle {
            let url = dir("logs").appendingPathComponent(name + ".log")
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw ClusterError("cannot create \(url.path)") }
            return try FileHandle(forWritingTo: url)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "exec", namespace(host)] + argv
        p.currentDirectoryURL = dir(host)
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = try handle(log)
        p.standardOutput = out
        p.standardError = try errors.map(handle) ?? out
        try p.run()
        return p
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Runs `argv` inside `host`'s namespace to its end, or kills it after `timeout` seconds.
    func run(_ host: String, _ argv: [String], env: [String: String] = [:], timeout: Double = 60) async throws -> Outcome {
        let name = "run-\(UUID().uuidString)"
        let p = try spawn(host, argv, log: name, errors: name + ".err", env: env)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let timedOut = p.isRunning
        stop(p)
        return Outcome(status: p.terminationStatus, stdout: log(name), stderr: log(name + ".err"), timedOut: timedOut)
    }

    /// Polls `condition` until it holds; on timeout the error quotes the end of each of `logs`.
    func waitFor(_ what: String, timeout: Double, logs: [String], _ condition: () async throws -> Bool) async throws {
        try await pollAsync(
            what,
            timeout: timeout,
            context: { logs.map { "--- \($0).log:\n\(log($0).suffix(1500))" }.joined(separator: "\n") },
            condition
        )
    }
}

/// SIGTERM, up to 5 s to exit, then SIGKILL.
/// Synchronous, for `defer` blocks.
private func stop(_ p: Process) {
    guard p.isRunning else { return }
    p.terminate()
    let deadline = Date().addingTimeInterval(5)
    while p.isRunning && Date() < deadline { usleep(50_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
}

/// A token file as the coordinator writes its own: the token and a newline, mode 0600.
private func writeSecret(_ token: String, to url: URL) throws {
    let text = token.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
    guard FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
        throw ClusterError("cannot write \(url.path)")
    }
}

/// The one-line error of a call the coordinator refused with 403.
private func refused(_ stderr: String) -> Bool { stderr.contains("403") || stderr.lowercased().contains("forbidden") }
