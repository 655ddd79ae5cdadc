import Foundation
import GRDB
import RecurEngine
import RecurForecast
import RecurStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A coordinator and workers as real `recur` processes in a temporary directory.
/// `@unchecked Sendable`: only the test's own task starts and stops processes; the polls that
/// `waitFor` runs on a thread of their own only read logs and the database.
final class Cluster: @unchecked Sendable {
    let dir: URL
    let port: Int
    private(set) var coordinator: Process?
    private(set) var workers: [Process] = []
    private var logCount = 0

    var tcp: String { "tcp://127.0.0.1:\(port)" }
    var unix: String { "unix:\(dir.path)/r.sock" }
    var database: String { dir.appendingPathComponent("r.db").path }
    var tokenFile: String { database + ".token" }

    /// A synthetic hourly series of `rows` rows: `load` (target) and `temp`.
    init(rows: Int = 1500) throws {
        dir = try makeTemporaryDirectory()
        port = Cluster.freePort()
        var csv = "timestamp,load,temp\n"
        var rng = SeededGenerator(seed: 4)
        for i in 0..<rows {
            let t = 978_307_200 + Int64(i) * 3600
            let load = 50 + 10 * sin(Double(i) * 2 * .pi / 24) + 3 * sin(Double(i) * 2 * .pi / 168) + rng.nextNormal()
            csv += "\(Timestamp.format(t)),\(String(format: "%.3f", load)),\(String(format: "%.3f", 10 + 5 * cos(Double(i) * 2 * .pi / 24)))\n"
        }
        try Data(csv.utf8).write(to: dir.appendingPathComponent("series.csv"))
    }

    deinit { stopAll() }

    func stopAll() {
        for p in workers + [coordinator].compactMap({ $0 }) where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in workers + [coordinator].compactMap({ $0 }) { p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    func sweepYAML(name: String = "it", trials: Int, parallel: Int, epochs: Int, units: Int = 8, length: Int = 24, pruning: String = "none") -> String
    {
        """
        name: \(name)
        task: {dataset: series.csv, target: load, features: all, sequence_length: \(length), horizon: 6}
        search: {method: random, seed: 3, max_trials: \(trials), max_parallel: \(parallel)}
        space:
          cell: {choice: [gru, lstm, simple_rnn]}
          units: \(units)
          learning_rate: {float: [1.0e-3, 1.0e-2], log: true}
        training: {epochs: \(epochs), batch_size: 64, early_stopping: false}
        pruning: {method: \(pruning)}
        retries: {max_attempts: 3}
        """
    }

    private func logFile(_ name: String) -> FileHandle {
        let url = dir.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        return FileHandle(forWritingAtPath: url.path)!
    }

    func log(_ name: String) -> String { (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? "" }

    private func spawn(_ arguments: [String], log name: String, prefix: [String] = [], directory: URL? = nil) throws -> Process {
        let p = Process()
        if prefix.isEmpty {
            p.executableURL = RecurBinary.url
            p.arguments = arguments
        } else {
            p.executableURL = URL(fileURLWithPath: prefix[0])
            p.arguments = Array(prefix.dropFirst()) + [RecurBinary.url.path] + arguments
        }
        p.currentDirectoryURL = directory ?? dir
        let handle = logFile(name)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return p
    }

    /// Starts `recur serve` on the TCP port and the Unix socket and waits until both listen.
    func startCoordinator(leaseSeconds: Double = 30, extraListen: [String] = [], arguments: [String] = []) async throws {
        logCount += 1
        let name = "serve-\(logCount).log"
        let listens = ([tcp, unix] + extraListen).flatMap { ["--listen", $0] }
        coordinator = try spawn(["serve", "--db", database, "--lease-seconds", String(leaseSeconds)] + listens + arguments, log: name)
        try await waitFor("coordinator listening", timeout: 30) {
            self.log(name).components(separatedBy: "listening on").count > 2 + extraListen.count
        }
    }

    @discardableResult
    func startWorker(
        tcp useTCP: Bool = true,
        slots: Int = 1,
        prefix: [String] = [],
        coordinator address: String? = nil,
        directory: URL? = nil,
        cache: URL? = nil
    ) throws -> Process {
        logCount += 1
        // Datasets are cached in the cluster's directory, not the user's ~/.cache.
        let cacheDirectory = (cache ?? dir.appendingPathComponent("cache")).path
        var args = [
            "worker", "--coordinator", address ?? (useTCP ? tcp : unix), "--slots", String(slots), "--exit-when-done", "--cache-dir", cacheDirectory,
        ]
        if useTCP || address != nil { args += ["--token-file", tokenFile] }
        let p = try spawn(args, log: "worker-\(workers.count + 1).log", prefix: prefix, directory: directory)
        workers.append(p)
        return p
    }

    func workerLog(_ index: Int) -> String { log("worker-\(index + 1).log") }

    func createSweep(_ yaml: String) async throws {
        try Data(yaml.utf8).write(to: dir.appendingPathComponent("sweep.yaml"))
        let r = try await RecurBinary.run(["sweep", "create", "sweep.yaml", "--coordinator", tcp, "--token-file", tokenFile], directory: dir)
        guard r.status == 0 else { throw ClusterError("sweep create failed: \(r.stderr)") }
    }

    func store() throws -> SweepStore { try SweepStore(path: database) }

    /// Polls `condition` every 0.1 s on a thread of its own (see `poll`).
    func waitFor(_ what: String, timeout: Double, _ condition: @escaping @Sendable () throws -> Bool) async throws {
        try await poll(what, timeout: timeout, until: condition) {}
    }

    /// Waits until `count` epoch reports are stored (training is under way), then runs `action` at
    /// once on the polling thread: a signal sent there reaches a trial that is still training.
    func waitForReports(_ count: Int = 1, _ what: String = "an epoch to be reported", then action: @escaping @Sendable () -> Void = {}) async throws {
        try await poll(what, timeout: 60, until: { try self.count("SELECT COUNT(*) FROM epoch_metrics") >= count }, then: action)
    }

    func sweepState(_ name: String = "it") throws -> SweepState { try store().sweep(named: name).state }

    /// The result of a `SELECT COUNT(*) …` on the coordinator's database.
    func count(_ sql: String) throws -> Int { try store().writer.read { try Int.fetchOne($0, sql: sql) ?? 0 } }

    func signal(_ p: Process, _ sig: Int32) { kill(p.processIdentifier, sig) }
}

struct ClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Checks that every trial completed exactly once and that metric rows are contiguous per attempt.
func checkCompletedExactlyOnce(_ store: SweepStore, sweep: String = "it", trials: Int) throws {
    let s = try store.sweep(named: sweep)
    let all = try store.trials(sweep: s.id!)
    #expect(all.count == trials)
    for t in all {
        #expect(t.state == .completed, "trial \(t.number) is \(t.state)")
        let attempts = try store.attempts(trial: t.id!)
        #expect(attempts.filter { $0.state == .succeeded }.count == 1, "trial \(t.number) attempts \(attempts.map(\.state))")
        let metrics = try store.metrics(trial: t.id!)
        for a in attempts {
            let epochs = metrics.filter { $0.attemptId == a.id }.map(\.epoch)
            #expect(epochs == Array(stride(from: 1, through: epochs.count, by: 1)), "attempt \(a.number) of trial \(t.number): epochs \(epochs)")
        }
    }
}
