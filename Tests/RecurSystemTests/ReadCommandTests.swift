import Foundation
import RecurEngine
import RecurStore
import Testing

/// status, leaderboard, trial show, workers, export, sweep list/pause/resume/cancel — through the
/// binary, against a database file and against a running coordinator.
@Suite(.serialized, .systemTestSlot) struct ReadCommandTests {
    /// One finished 4-trial sweep in `runs/r.db`.
    static func finishedSweep() async throws -> Cluster {
        let cluster = try Cluster()
        try Data(cluster.sweepYAML(name: "done1", trials: 4, parallel: 2, epochs: 3).utf8).write(to: cluster.dir.appendingPathComponent("s.yaml"))
        let r = try await RecurBinary.run(["run", "s.yaml", "--workers", "2", "--db", "runs/r.db"], directory: cluster.dir)
        guard r.status == 0 else { throw ClusterError("run failed: \(r.stderr)") }
        return cluster
    }

    @Test func readCommandsWorkOnADatabaseFile() async throws {
        let cluster = try await Self.finishedSweep()
        defer { cluster.stopAll() }
        let db = ["--db", "runs/r.db"]
        func run(_ args: [String]) async throws -> RecurBinary.Result {
            try await RecurBinary.run(args + db, environment: ["NO_COLOR": "1"], directory: cluster.dir)
        }

        let list = try await run(["sweep", "list"])
        #expect(list.status == 0 && list.stdout.contains("done1") && list.stdout.contains("4/4"))

        let table = try await run(["leaderboard", "done1", "--top", "3"])
        #expect(table.status == 0 && table.stdout.split(separator: "\n").count == 4 && table.stdout.contains("val MAE"))

        let json = try await run(["leaderboard", "done1", "--format", "json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 4)
        for key in ["rank", "trial", "params", "val_mae", "test_mae", "epochs", "state", "duration_s", "worker"] {
            #expect(rows[0][key] != nil, "missing \(key)")
        }
        #expect((rows[0]["params"] as? [String: Any])?["cell"] != nil)

        let csv = try await run(["leaderboard", "done1", "--format", "csv"])
        #expect(csv.stdout.hasPrefix("rank,trial,trial_id,cell,units,learning_rate,val_mae,test_mae,epochs,state,pruned,duration_s,worker"))
        #expect(csv.stdout.split(separator: "\n").count == 5)

        let status = try await run(["status", "done1"])
        #expect(status.status == 0 && status.stdout.contains("done"))

        let trialId = try #require(rows[0]["trial_id"] as? Int)
        let show = try await run(["trial", "show", String(trialId)])
        #expect(show.status == 0 && show.stdout.contains("attempt 1: val MAE ") && show.stdout.contains("epoch  train loss"))

        let export = try await run(["export", String(trialId), "-o", "best.safetensors"])
        #expect(export.status == 0)
        // The same trial by its number in the sweep, as the tables show it.
        let number = try #require(rows[0]["trial"] as? Int)
        let byNumber = try await run(["trial", "show", String(number), "--sweep", "done1"])
        #expect(byNumber.status == 0 && byNumber.stdout.hasPrefix("sweep done1, trial \(number) (id \(trialId))"), "\(byNumber.stdout)")
        let exportByNumber = try await run(["export", String(number), "--sweep", "done1", "-o", "same.safetensors"])
        #expect(exportByNumber.status == 0)
        #expect(
            try Data(contentsOf: cluster.dir.appendingPathComponent("same.safetensors"))
                == Data(contentsOf: cluster.dir.appendingPathComponent("best.safetensors"))
        )
        await #expect(try run(["export", "999", "--sweep", "done1", "-o", "x.safetensors"]).stderr.contains("sweep done1 has no trial 999"))
        let (model, metadata) = try Checkpoint.load(from: cluster.dir.appendingPathComponent("best.safetensors"))
        #expect(model.spec.inputFeatures == 2 && metadata["sweep"] == "done1")
        let predict = try await RecurBinary.run(
            ["predict", "--checkpoint", "best.safetensors", "--data", "series.csv", "--out", "f.csv"],
            directory: cluster.dir
        )
        #expect(predict.status == 0, "\(predict.stderr)")

        let workers = try await run(["workers"])
        #expect(workers.status == 0 && workers.stdout.contains("slots"))
    }

    static let bad: [(args: [String], message: String, status: Int32)] = [
        // First: the database in runs/ must survive it for the lines below to pass.
        (["export", "1", "-o", "runs", "--db", "runs/r.db"], "--output runs: is a directory", 1),
        (["export", "1", "-o", "runs/r.db", "--db", "runs/r.db"], "--output runs/r.db: is this command's input runs/r.db", 1),
        (["export", "1", "-o", "/dev/null", "--db", "runs/r.db"], "--output /dev/null: is not a regular file", 1),
        (["report", "done1", "-o", "runs/r.db", "--db", "runs/r.db"], "--output runs/r.db: is this command's input runs/r.db", 1),
        (["leaderboard", "nope", "--db", "runs/r.db"], "no sweep named 'nope'", 1),
        (["status", "nope", "--db", "runs/r.db"], "no sweep named 'nope'", 1),
        (["trial", "show", "99999", "--db", "runs/r.db"], "no trial with id 99999", 1),
        (["export", "99999", "-o", "x.safetensors", "--db", "runs/r.db"], "no trial with id 99999", 1),
        (["leaderboard", "done1", "--db", "missing.db"], "no database at missing.db", 1),
        (["leaderboard", "done1", "--format", "xml", "--db", "runs/r.db"], "--format", 64),
        (["leaderboard", "done1", "--top", "0", "--db", "runs/r.db"], "--top: 0 must be ≥ 1", 64),
        (["trial", "show", "abc", "--db", "runs/r.db"], "abc", 64),
        (["status", "--coordinator", "tcp://127.0.0.1:1"], "cannot reach the coordinator at tcp://127.0.0.1:1", 1),
        (["sweep", "pause", "done1", "--coordinator", "unix:/nonexistent.sock"], "cannot reach the coordinator", 1),
        (
            ["leaderboard", "done1", "--coordinator", "ftp://x"],
            "--coordinator: 'ftp://x' is not https://HOST:PORT, tcp://HOST:PORT (PORT 1–65535) or unix:PATH",
            64
        ),
        (["sweep", "create", "s.yaml", "--coordinator", "tcp://127.0.0.1:1"], "cannot reach the coordinator", 1),
    ]

    @Test func badInputAndUnreachableCoordinators() async throws {
        let cluster = try await Self.finishedSweep()
        defer { cluster.stopAll() }
        for bad in Self.bad {
            let r = try await RecurBinary.run(bad.args, directory: cluster.dir)
            #expect(r.status == bad.status, "\(bad.args): \(r.stderr)")
            #expect(r.stderr.contains(bad.message), "\(bad.args): \(r.stderr)")
        }
    }

    @Test func remoteCommandsTalkToACoordinator() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.createSweep(cluster.sweepYAML(trials: 3, parallel: 1, epochs: 2))
        let remote = ["--coordinator", cluster.tcp, "--token-file", cluster.tokenFile]
        func run(_ args: [String]) async throws -> RecurBinary.Result { try await RecurBinary.run(args + remote, directory: cluster.dir) }
        // A sweep whose dataset does not fit its task is refused before its file is uploaded.
        let stored = try FileManager.default.contentsOfDirectory(atPath: cluster.database + ".datasets")
        let bad = cluster.sweepYAML(name: "bad", trials: 1, parallel: 1, epochs: 1).replacingOccurrences(of: "target: load", with: "target: nope")
        try Data(bad.replacingOccurrences(of: "series.csv", with: "other.csv").utf8).write(to: cluster.dir.appendingPathComponent("bad.yaml"))
        try Data("timestamp,x\n2001-01-01T00:00,1\n".utf8).write(to: cluster.dir.appendingPathComponent("other.csv"))
        let refused = try await run(["sweep", "create", "bad.yaml"])
        #expect(refused.status == 1 && refused.stderr.contains("bad.yaml: task.target: no column 'nope' in other.csv"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cluster.database + ".datasets") == stored)
        await #expect(try run(["sweep", "pause", "it"]).stdout.contains("sweep it is paused"))
        await #expect(try run(["sweep", "pause", "it"]).stdout.contains("sweep it is paused"))  // idempotent
        await #expect(try run(["sweep", "resume", "it"]).stdout.contains("sweep it is running"))
        // Running, nothing leased and no worker: status says what it waits for.
        let waiting = try await run(["status", "it"])
        #expect(waiting.status == 0 && waiting.stdout.contains("no live worker"), "\(waiting.stdout)")
        try cluster.startWorker()
        try await cluster.waitFor("the sweep to finish", timeout: 120) { try cluster.sweepState() == .done }
        let board = try await run(["leaderboard", "it", "--format", "json"])
        #expect(board.status == 0 && board.stdout.contains("\"val_mae\""))
        let workers = try await run(["workers"])
        let registered = try #require(try cluster.store().workers().first)
        #expect(
            workers.status == 0 && workers.stdout.contains(String(registered.id.prefix(8))) && workers.stdout.contains(registered.host)
                && (workers.stdout.contains(" idle ") || workers.stdout.contains(" gone ")),
            "\(workers.stdout)"
        )
        await #expect(try run(["leaderboard", "nope"]).stderr.contains("no sweep named 'nope'"))
        let wrongToken = try await RecurBinary.run(["status", "--coordinator", cluster.tcp], directory: cluster.dir)
        #expect(wrongToken.status == 1 && wrongToken.stderr.contains("refused the token"))
        await #expect(try run(["sweep", "cancel", "it"]).stderr.contains("cannot become cancelled"))
    }
}
