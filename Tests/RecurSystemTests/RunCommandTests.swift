import Foundation
import RecurStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `recur run`: embedded coordinator, worker processes, progress, leaderboard, resume.
@Suite(.systemTestSlot) struct RunCommandTests {
    @Test func runsASweepToItsLeaderboardAndResumes() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try Data(cluster.sweepYAML(name: "local", trials: 4, parallel: 2, epochs: 2).utf8).write(to: cluster.dir.appendingPathComponent("local.yaml"))
        let started = Date()
        let first = try await RecurBinary.run(["run", "local.yaml", "--workers", "2", "--db", "runs/r.db"], directory: cluster.dir)
        let elapsed = Date().timeIntervalSince(started)
        #expect(first.status == 0, "\(first.stderr)")
        // Off a terminal: a progress line only when the counts change, at most every 10 s, and
        // the final one; never the same counts twice.
        let progress = first.stdout.split(separator: "\n").filter { $0.contains(" trials: ") }.map { $0.components(separatedBy: " · ETA")[0] }
        #expect(progress.count <= Int(elapsed / 10) + 2, "\(progress)")
        #expect(zip(progress, progress.dropFirst()).allSatisfy { $0 != $1 } || progress.count <= 2, "\(progress)")
        #expect(first.stdout.contains("sweep local: random search, up to 4 trials"))
        #expect(first.stdout.contains("4/4 trials: 4 done"))
        #expect(first.stdout.contains("rank  trial  id  cell"))
        #expect(first.stdout.contains("baselines (load): persistence val"))
        let store = try SweepStore(path: cluster.dir.appendingPathComponent("runs/r.db").path)
        try checkCompletedExactlyOnce(store, sweep: "local", trials: 4)
        let again = try await RecurBinary.run(["run", "local.yaml", "--workers", "1", "--db", "runs/r.db"], directory: cluster.dir)
        #expect(again.status == 0 && again.stdout.contains("resuming sweep local"))
    }

    /// A worker-hour budget ends `recur run` long before `max_trials`, and both `run` and
    /// `status` say which budget and by how much.
    @Test func aBudgetEndsARunEarlyAndSaysWhy() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let yaml = cluster.sweepYAML(name: "budget", trials: 40, parallel: 2, epochs: 2).replacingOccurrences(
            of: "max_parallel: 2}",
            with: "max_parallel: 2, budget: {worker_hours: 0.0003}}"
        )
        #expect(yaml.contains("worker_hours"))
        try Data(yaml.utf8).write(to: cluster.dir.appendingPathComponent("budget.yaml"))
        let run = try await RecurBinary.run(["run", "budget.yaml", "--workers", "2", "--db", "b.db"], directory: cluster.dir)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("stopped: worker-hour budget spent: "), "\(run.stdout)")
        let store = try SweepStore(path: cluster.dir.appendingPathComponent("b.db").path)
        let s = try store.summary(named: "budget")
        #expect(s.state == .done && s.stopReason?.rule == .workerHours && s.completed + s.pruned + s.failed < 40, "\(s)")
        let status = try await RecurBinary.run(["status", "--db", "b.db"], directory: cluster.dir)
        #expect(status.stdout.contains("budget: stopped: worker-hour budget spent"), "\(status.stdout)")
    }

    /// A robust sweep through the binary: each trial's folds × seeds leased as runs over two
    /// worker processes, refits and a top-1 confirmation; the table, JSON and CSV carry the
    /// uncertainty.
    @Test func aRobustSweepRunsFoldsSeedsRefitsAndConfirmation() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let yaml =
            cluster.sweepYAML(name: "robust", trials: 3, parallel: 4, epochs: 2)
            + "\nevaluation: {folds: {method: rolling_origin, count: 2}, seeds: 2, confirm: {top_k: 1, seeds: 1}}\n"
        try Data(yaml.utf8).write(to: cluster.dir.appendingPathComponent("robust.yaml"))
        let run = try await RecurBinary.run(["run", "robust.yaml", "--workers", "2", "--db", "r.db"], directory: cluster.dir)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("3/3 trials: 3 done") && run.stdout.contains(" ± ") && run.stdout.contains("confirmed"), "\(run.stdout)")
        let json = try await RecurBinary.run(["leaderboard", "robust", "--db", "r.db", "--format", "json"], directory: cluster.dir)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 3 && rows.map { $0["runs"] as? Int } == [6, 4, 4], "\(json.stdout)")
        #expect(rows.map { $0["confirmed"] as? Bool } == [true, false, false])
        for row in rows {
            let ci = try #require(row["val_mae_ci95"] as? [Double])
            let mean = try #require(row["val_mae"] as? Double)
            #expect(ci.count == 2 && ci[0] <= mean && mean <= ci[1] && (row["val_mae_sd"] as? Double ?? -1) >= 0)
        }
        let csv = try await RecurBinary.run(["leaderboard", "robust", "--db", "r.db", "--format", "csv"], directory: cluster.dir)
        #expect(
            csv.stdout.hasPrefix("rank,trial,trial_id,") && csv.stdout.contains(",val_mae_sd,val_mae_ci95_low,val_mae_ci95_high,runs,confirmed\n")
        )
        // Every run was leased once and succeeded (4 + 2 refits per trial, 2 + 1 more for the confirmed one),
        // spread over both workers.
        #expect(try cluster.count("SELECT COUNT(*) FROM runs WHERE state = 'succeeded'") == 3 * 6 + 3)
        #expect(try cluster.count("SELECT COUNT(*) FROM runs WHERE kind = 'refit'") == 7)
        #expect(try cluster.count("SELECT COUNT(DISTINCT worker_id) FROM attempts") == 2)
        #expect(try cluster.count("SELECT COUNT(*) FROM attempts WHERE state != 'succeeded'") == 0)
        let top = try #require(rows.first?["trial_id"] as? Int)
        let show = try await RecurBinary.run(["trial", "show", String(top), "--db", "r.db"], directory: cluster.dir)
        #expect(show.stdout.contains("95 % interval") && show.stdout.contains("refit (") && show.stdout.contains("2 of 2"), "\(show.stdout)")
        #expect(show.stdout.contains("confirmation") && show.stdout.contains("(run 1): val MAE"))
    }

    /// Ctrl-C stops cleanly (workers release their trials); running again resumes and finishes.
    @Test func interruptThenResume() async throws {
        let cluster = try Cluster(rows: 5000)
        defer { cluster.stopAll() }
        let (p, out, _) = try await Self.startLongRun(in: cluster, trials: 6) { kill($0, SIGINT) }
        let text = await out.text()
        await p.ended()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains("stopped; run the same command again to resume"))
        let store = try SweepStore(path: cluster.dir.appendingPathComponent("r.db").path)
        #expect(try store.runningAttempts().isEmpty, "a lease was left running")
        let again = try await RecurBinary.run(["run", "long.yaml", "--workers", "2", "--db", "r.db"], directory: cluster.dir)
        #expect(again.status == 0 && again.stdout.contains("resuming sweep long"))
        try checkCompletedExactlyOnce(store, sweep: "long", trials: 6)
    }

    /// Workers killed under a running `recur run`: it says so and exits 1; the next run hands
    /// their trials back without charging a retry (no attempt is counted as lost) and finishes.
    @Test func deadWorkersFailTheRunAndTheirTrialsAreHandedBack() async throws {
        let cluster = try Cluster(rows: 5000)
        defer { cluster.stopAll() }
        let (p, out, children) = try await Self.startLongRun(in: cluster, trials: 4) { run in
            let children = try Self.childProcesses(of: run)
            for child in children { kill(child, SIGKILL) }
            return children
        }
        let db = cluster.dir.appendingPathComponent("r.db").path
        #expect(children.count == 2)
        let text = await out.text()
        await p.ended()
        #expect(p.terminationStatus == 1, "\(text)")
        #expect(text.contains("the workers exited before the sweep finished"), "\(text)")
        let store = try SweepStore(path: db)
        #expect(try !store.runningAttempts().isEmpty)
        let again = try await RecurBinary.run(["run", "long.yaml", "--workers", "2", "--db", "r.db"], directory: cluster.dir)
        #expect(again.status == 0 && again.stdout.contains("of the last run handed back"), "\(again.stdout)\n\(again.stderr)")
        try checkCompletedExactlyOnce(store, sweep: "long", trials: 4)
        await #expect(try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM attempts WHERE state = 'lost'") } == 0)
        await #expect(try store.writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM attempts WHERE state = 'released'") } ?? 0 >= 1)
    }

    /// Starts `recur run long.yaml --workers 2 --db r.db` (trials of a few seconds), and once an
    /// epoch is stored does `action` to the run's pid; stdout and stderr go to the pipe. The wait
    /// and the action happen on a thread of their own: waiting on the test's few cooperative
    /// threads, busy with other suites, once let the whole sweep finish before the action came.
    static func startLongRun<T: Sendable>(
        in cluster: Cluster,
        trials: Int,
        then action: @escaping @Sendable (Int32) throws -> T
    ) async throws -> (Process, Pipe, T) {
        try Data(cluster.sweepYAML(name: "long", trials: trials, parallel: 2, epochs: 12, units: 16, length: 48).utf8).write(
            to: cluster.dir.appendingPathComponent("long.yaml")
        )
        let p = Process()
        p.executableURL = RecurBinary.url
        p.arguments = ["run", "long.yaml", "--workers", "2", "--db", "r.db"]
        p.currentDirectoryURL = cluster.dir
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let db = cluster.dir.appendingPathComponent("r.db").path
        let pid = p.processIdentifier
        let result = try await offThePool {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let started =
                    FileManager.default.fileExists(atPath: db)
                    && (try? SweepStore(readingPath: db).writer.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM epoch_metrics") ?? 0 }) ?? 0
                        >= 1
                if started { return try action(pid) }
                Thread.sleep(forTimeInterval: 0.05)
            }
            throw ClusterError("timed out after 60 s waiting for a trial to start")
        }
        return (p, out, result)
    }

    /// `recur run` killed with SIGKILL takes its workers with it: the coordinator lived in it, so
    /// they have nothing to report to (one once retried the dead socket for minutes).
    @Test func aKilledRunTakesItsWorkersWithIt() async throws {
        let cluster = try Cluster(rows: 5000)
        defer { cluster.stopAll() }
        let (p, _, children) = try await Self.startLongRun(in: cluster, trials: 4) { run in
            let children = try Self.childProcesses(of: run)
            kill(run, SIGKILL)
            return children
        }
        await p.ended()
        #expect(children.count == 2)
        /// Gone, or a zombie no one reaps.
        func alive(_ pid: Int32) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
                return false
            }
            return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
        }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, children.contains(where: alive) { try await Task.sleep(for: .milliseconds(200)) }
        #expect(!children.contains(where: alive), "workers still running 20 s after recur run was killed")
        for child in children where alive(child) { kill(child, SIGKILL) }
    }

    /// Process ids whose parent is `pid` (from /proc).
    static func childProcesses(of pid: Int32) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { Int32($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    @Test func malformedSweepFilesNameTheYAMLPath() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("name: x\ntask: {dataset: d.csv, target: y}\nspace:\n  units: {int: [0, 8]}\n".utf8).write(
            to: dir.appendingPathComponent("bad.yaml")
        )
        try Data("name: [x\n".utf8).write(to: dir.appendingPathComponent("broken.yaml"))
        for (file, message) in [
            ("bad.yaml", "bad.yaml: space.units.int[0]: 0 must be ≥ 1"), ("broken.yaml", "broken.yaml: not valid YAML"),
            ("none.yaml", "none.yaml: cannot read the file"),
        ] {
            let r = try await RecurBinary.run(["run", file, "--db", "r.db"], directory: dir)
            #expect(r.status == 1 && r.stderr.contains(message), "\(file): \(r.stderr)")
            let c = try await RecurBinary.run(["sweep", "create", file], directory: dir)
            #expect(c.status == 1 && c.stderr.contains(message), "\(file): \(c.stderr)")
        }
    }

    @Test func aDifferentDefinitionUnderTheSameNameIsRefused() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try Data(cluster.sweepYAML(name: "local", trials: 1, parallel: 1, epochs: 1).utf8).write(to: cluster.dir.appendingPathComponent("a.yaml"))
        try Data(cluster.sweepYAML(name: "local", trials: 1, parallel: 1, epochs: 2).utf8).write(to: cluster.dir.appendingPathComponent("b.yaml"))
        await #expect(try RecurBinary.run(["run", "a.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir).status == 0)
        let clash = try await RecurBinary.run(["run", "b.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir)
        #expect(clash.status == 1 && clash.stderr.contains("a sweep named 'local' exists with another definition"))
    }

    /// A finished sweep is extended by raising max_trials (comments may change too); the trials
    /// already run are kept and only the new ones run.
    @Test func raisingMaxTrialsExtendsAFinishedSweep() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try Data(cluster.sweepYAML(name: "grow", trials: 2, parallel: 1, epochs: 1).utf8).write(to: cluster.dir.appendingPathComponent("s.yaml"))
        await #expect(try RecurBinary.run(["run", "s.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir).status == 0)
        try Data(("# three more\n" + cluster.sweepYAML(name: "grow", trials: 5, parallel: 1, epochs: 1)).utf8).write(
            to: cluster.dir.appendingPathComponent("s.yaml")
        )
        let more = try await RecurBinary.run(["run", "s.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir)
        #expect(
            more.status == 0 && more.stdout.contains("max_trials 2 → 5") && more.stdout.contains("5/5 trials: 5 done"),
            "\(more.stdout)\n\(more.stderr)"
        )
        let store = try SweepStore(path: cluster.dir.appendingPathComponent("r.db").path)
        try checkCompletedExactlyOnce(store, sweep: "grow", trials: 5)
        try Data(cluster.sweepYAML(name: "grow", trials: 3, parallel: 1, epochs: 1).utf8).write(to: cluster.dir.appendingPathComponent("s.yaml"))
        let fewer = try await RecurBinary.run(["run", "s.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir)
        #expect(fewer.status == 1 && fewer.stderr.contains("search.max_trials: 3 is below the 5 trials"), "\(fewer.stderr)")
    }
}
