import ArgumentParser
import Foundation
import RecurAPI
import RecurSweep
import Testing

@testable import RecurCLI

/// Every subcommand parses its documented invocation in-process, and refuses bad flags with a
/// usage error (exit 64) before doing anything.
@Suite struct ParsingTests {
    static let good: [[String]] = [
        ["run", "sweeps/quickstart.yaml"], ["run", "s.yaml", "--workers", "2", "--db", "x.db", "--top", "5"],
        ["serve", "--db", "s.db", "--listen", "tcp://0.0.0.0:7878", "--listen", "unix:/tmp/r.sock"],
        ["worker", "--coordinator", "unix:/tmp/r.sock", "--slots", "2", "--sweep", "lecture"],
        ["sweep", "create", "s.yaml"], ["sweep", "validate", "a.yaml", "b.yaml"], ["sweep", "list", "--db", "x.db"],
        ["sweep", "pause", "lecture"], ["sweep", "resume", "lecture"], ["sweep", "cancel", "lecture"],
        ["status"], ["status", "lecture", "--watch"], ["leaderboard", "lecture", "--top", "10", "--format", "csv"],
        ["trial", "show", "12"], ["workers"], ["export", "12", "-o", "m.safetensors"],
        ["train", "--task", "t.yaml", "--cell", "gru"], ["predict", "--checkpoint", "m", "--data", "d.csv"],
        ["data", "synth", "--out", "x.csv"], ["engine", "init", "--spec", "s.json", "--output", "m"],
        ["engine", "forward", "--checkpoint", "m", "--input", "x.npy", "--output", "y.npy"],
        ["bench", "engine", "--json"], ["bench", "sampler"], ["bench", "coordinator", "--clients", "8"],
        ["serve", "--db", "s.db", "--listen", "tcp://0.0.0.0:7878", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
        ["worker", "--coordinator", "https://10.0.0.5:7878", "--ca-file", "ca.pem", "--token-file", "w.token", "--cache-dir", "/tmp/c"],
        ["sweep", "create", "s.yaml", "--coordinator", "https://h:7878", "--ca-file", "ca.pem"],
        ["tls", "init", "--host", "10.0.0.5,coordinator.lan", "--out", "tls"],
        ["token", "create", "--role", "worker", "--name", "rack", "--db", "s.db"], ["token", "list", "--db", "s.db"],
        ["token", "revoke", "rack", "--db", "s.db"], ["login-link", "--db", "s.db", "--url", "https://h:7878", "--minutes", "5"],
    ]

    @Test(arguments: good.indices)
    func documentedInvocationsParse(_ i: Int) throws {
        _ = try RecurCommand.parseAsRoot(Self.good[i])
    }

    static let bad: [[String]] = [
        ["run"], ["run", "s.yaml", "--workers", "0"], ["serve", "--db", "s.db", "--listen", "http://x"], ["serve"],
        ["worker", "--slots", "0"], ["worker", "--coordinator", "localhost"], ["sweep", "pause"], ["sweep", "launch", "x"],
        ["leaderboard", "x", "--format", "xml"], ["leaderboard", "x", "--top", "-1"], ["trial", "show", "x"], ["export", "3"],
        ["train", "--task", "t.yaml"], ["train", "--task", "t.yaml", "--cell", "gru", "--epochs", "0"],
        ["data", "synth", "--out", "x", "--rows", "0"],
        ["bench", "engine", "--models", "cnn"], ["bench", "coordinator", "--transport", "quic"], ["status", "--bogus"],
        ["serve", "--db", "s.db", "--tls-cert", "c.pem"], ["token", "create", "--role", "root", "--db", "s.db"],
        ["token", "create", "--role", "worker", "--name", "two words", "--db", "s.db"], ["login-link", "--db", "s.db", "--minutes", "0"],
        ["login-link", "--db", "s.db", "--role", "worker"], ["login-link", "--db", "s.db", "--url", "ftp://h"], ["tls", "init", "--out", "d"],
        ["tls", "init", "--host", "a b", "--out", "d"], ["worker", "--coordinator", "https://h"],
        ["tls", "init", "--host", "256.1.1.1", "--out", "d"], ["tls", "init", "--host", String(repeating: "a", count: 64) + ".lan", "--out", "d"],
        ["status", "--coordinator", "tcp://127.0.0.1:99999"], ["worker", "--coordinator", "tcp://h:0"],
        ["serve", "--db", "s.db", "--lease-seconds", "inf"], ["serve", "--db", "s.db", "--lease-seconds", "1e300"],
        ["bench", "coordinator", "--db", "/"], ["serve", "--db", "s.db", "--listen", "unix:/tmp/" + String(repeating: "s", count: 120)],
        ["run", "s.yaml", "--workers", "100000"],
    ]

    @Test(arguments: bad.indices)
    func badFlagsAreUsageErrors(_ i: Int) {
        do {
            _ = try RecurCommand.parseAsRoot(Self.bad[i])
            Issue.record("accepted \(Self.bad[i])")
        } catch {
            #expect(RecurCommand.exitCode(for: error) == ExitCode(64), "\(Self.bad[i]): \(RecurCommand.message(for: error))")
            #expect(!RecurCommand.message(for: error).isEmpty)
        }
    }

    /// `sweep enqueue`'s example is a whole configuration of sweeps/lecture.yaml (it once missed
    /// three of its parameters).
    @Test func theEnqueueExampleFitsTheLectureSpace() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (spec, _) = try SweepSpec.load(path: root.appendingPathComponent("sweeps/lecture.yaml").path)
        let example = try #require(Sweep.Enqueue.configuration.discussion.split(separator: "\n").first { $0.contains("enqueue lecture --params") })
        let params = try #require(example.split(separator: " ").last)
        _ = try spec.checkedConfig(try TrialConfig.parse(params: String(params)))
    }

    /// `recur run` reads a relative dataset from here, else beside the sweep file, as `sweep
    /// create` does (it once looked only here and advised `sweep create`).
    @Test func runFindsTheDatasetBesideTheSweepFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("t,x\n".utf8).write(to: dir.appendingPathComponent("sub/beside.csv"))
        let sweep = dir.appendingPathComponent("sub/s.yaml").path
        #expect(Run.datasetDirectory("beside.csv", sweepFile: sweep)?.standardizedFileURL.path == dir.appendingPathComponent("sub").path)
        #expect(Run.datasetDirectory("nowhere.csv", sweepFile: sweep) == nil)
        #expect(Run.datasetDirectory(dir.appendingPathComponent("sub/beside.csv").path, sweepFile: sweep) == nil)
    }

    /// `recur workers` and `recur status` call a worker gone after a minute without a lease or a
    /// call (idle workers poll every 5 s); one holding a lease is training however long ago it
    /// reported, since the lease reaper takes its trials back when it stops renewing.
    @Test func aWorkerIsGoneAfterAMinuteWithoutWork() {
        func worker(running: Int32, seen: Double) -> API.WorkerInfo {
            API.WorkerInfo(id: "w", host: "h", slots: 1, version: "v", lastSeen: seen, running: running)
        }
        #expect(Workers.liveness(worker(running: 1, seen: 0), now: 1_000) == .training)
        #expect(Workers.liveness(worker(running: 0, seen: 950), now: 1_000) == .idle)
        #expect(Workers.liveness(worker(running: 0, seen: 939), now: 1_000) == .gone)
        // The coordinator's own count wins over this machine's clock (which may be off by minutes).
        var skewed = worker(running: 0, seen: 0)
        skewed.secondsSinceSeen = 5
        #expect(Workers.liveness(skewed, now: 1_000) == .idle)
    }
}
