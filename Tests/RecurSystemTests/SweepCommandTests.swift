import Foundation
import Testing

@Suite(.systemTestSlot) struct SweepCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func validateAcceptsTheShippedSweeps() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("sweeps").path)
            .filter { $0.hasSuffix(".yaml") }.map { "sweeps/\($0)" }
        let result = try await RecurBinary.run(["sweep", "validate"] + files, directory: Self.root)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == files.count)
        #expect(result.stdout.contains("task checked on datasets/greensboro-tmy3.csv"), "\(result.stdout)")
    }

    /// `sweep plan --json` on a shipped grid: the documented keys, numbers that agree with each
    /// other, and the grid's size; bad flags and missing data are one-line errors.
    @Test func planPricesAShippedSweep() async throws {
        let result = try await RecurBinary.run(["sweep", "plan", "sweeps/cells-grid.yaml", "--workers", "2", "--json"], directory: Self.root)
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["trials"] as? Int == 18 && json["workers"] as? Int == 2)
        let perTrial = try #require(json["seconds_per_trial"] as? [String: Double])
        let wall = try #require(json["wall_seconds"] as? [String: Double])
        let (low, median, high) = (try #require(perTrial["min"]), try #require(perTrial["median"]), try #require(perTrial["max"]))
        #expect(0 < low && low <= median && median <= high)
        let noPruning = try #require(wall["no_pruning"])
        // 18 trials on 2 workers: at least half their total and the priciest trial, at most all of it.
        #expect(noPruning >= high && noPruning >= 9 * low && noPruning <= 18 * high)
        #expect(wall["with_pruning"] == noPruning, "no pruning in this sweep")
        let calibration = try #require(json["calibration"] as? [String: Any])
        #expect((calibration["points"] as? [Any])?.isEmpty == false)

        let text = try await RecurBinary.run(["sweep", "plan", "sweeps/lecture.yaml", "--workers", "4"], directory: Self.root)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("60 trials (tpe)") && text.stdout.contains("with asha pruning"), "\(text.stdout)")
        #expect(text.stdout.contains("priciest: batch_size=128, bidirectional=true, cell=lstm, depth=3"), "\(text.stdout)")

        let noDB = try await RecurBinary.run(["sweep", "plan", "sweeps/target-mode.yaml", "--db", "/nonexistent/x.db"], directory: Self.root)
        #expect(noDB.status == 1 && noDB.stderr.contains("--db /nonexistent/x.db: cannot read it as a Recur database"), "\(noDB.stderr)")
        let bad = try await RecurBinary.run(["sweep", "plan", "sweeps/cells-grid.yaml", "--workers", "0"], directory: Self.root)
        #expect(bad.status != 0 && bad.stderr.contains("--workers: 0 must be ≥ 1"), "\(bad.stderr)")
        let elsewhere = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        try Data(try Data(contentsOf: Self.root.appendingPathComponent("sweeps/cells-grid.yaml"))).write(
            to: elsewhere.appendingPathComponent("s.yaml")
        )
        let missing = try await RecurBinary.run(["sweep", "plan", "s.yaml"], directory: elsewhere)
        #expect(missing.status == 1 && missing.stderr.contains("task.dataset: cannot read datasets/greensboro-tmy3.csv"), "\(missing.stderr)")
    }

    /// `recur sweep enqueue` against a live coordinator: --params and --file, a duplicate
    /// skipped, a bad value named; the worker then trains the picked configurations first.
    @Test func enqueuedConfigsAreTrainedFirst() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.createSweep(cluster.sweepYAML(trials: 4, parallel: 1, epochs: 1))
        let connect = ["--coordinator", cluster.tcp, "--token-file", cluster.tokenFile]
        let one = try await RecurBinary.run(
            ["sweep", "enqueue", "it", "--params", "cell=lstm,learning_rate=0.004"] + connect,
            directory: cluster.dir
        )
        #expect(one.status == 0 && one.stdout.contains("queued 1 configuration(s) for sweep it"), "\(one.stderr)")
        try Data("- {cell: gru, learning_rate: 0.002}\n- {cell: lstm, learning_rate: 0.004}\n".utf8).write(
            to: cluster.dir.appendingPathComponent("picks.yaml")
        )
        let file = try await RecurBinary.run(["sweep", "enqueue", "it", "--file", "picks.yaml"] + connect, directory: cluster.dir)
        #expect(file.status == 0 && file.stdout.contains("queued 1 configuration(s) for sweep it; 1 skipped"), "\(file.stdout)\(file.stderr)")
        let bad = try await RecurBinary.run(["sweep", "enqueue", "it", "--params", "cell=rnn,learning_rate=0.004"] + connect, directory: cluster.dir)
        #expect(bad.status != 0 && bad.stderr.contains("cell: rnn is not in {gru, lstm, simple_rnn}"), "\(bad.stderr)")
        let none = try await RecurBinary.run(["sweep", "enqueue", "it"] + connect, directory: cluster.dir)
        #expect(none.status != 0 && none.stderr.contains("give --params NAME=VALUE,… or --file FILE"), "\(none.stderr)")
        let worker = try cluster.startWorker()
        await worker.ended()
        let trials = try cluster.store().trials(sweep: try cluster.store().sweep(named: "it").id!).sorted { $0.number < $1.number }
        #expect(trials.count == 4 && trials.allSatisfy { $0.state == .completed })
        #expect(trials[0].configJson.contains(#""cell":"lstm""#) && trials[0].configJson.contains("0.004"), "\(trials[0].configJson)")
        #expect(trials[1].configJson.contains(#""cell":"gru""#) && trials[1].configJson.contains("0.002"), "\(trials[1].configJson)")
    }

    /// A task that parses but does not fit its data (a target the CSV lacks) fails validation
    /// when the dataset is at hand, as it would fail `recur run`.
    @Test func validateChecksTheTaskAgainstItsData() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("timestamp,x\n2001-01-01T00:00,1\n2001-01-01T01:00,2\n".utf8).write(to: dir.appendingPathComponent("d.csv"))
        try Data(
            """
            name: wrongtarget
            task: {dataset: d.csv, target: temperature, sequence_length: 1, horizon: 1}
            space:
              units: 4
            """.utf8
        ).write(to: dir.appendingPathComponent("t.yaml"))
        let result = try await RecurBinary.run(["sweep", "validate", "t.yaml"], directory: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("t.yaml: ") && result.stderr.contains("temperature"), "\(result.stderr)")
    }

    @Test func validateReportsEveryProblemAndFails() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(
            """
            name: bad
            task: {dataset: d.csv, target: y}
            space:
              dropout: {float: [0.0, 1.5]}
              cell: {choice: [gru, rnn9]}
            """.utf8
        ).write(to: dir.appendingPathComponent("bad.yaml"))
        try Data("name: [oops\n".utf8).write(to: dir.appendingPathComponent("broken.yaml"))
        let result = try await RecurBinary.run(["sweep", "validate", "bad.yaml", "broken.yaml"], directory: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("bad.yaml: space.dropout.float[1]: 1.5 must be < 1"), "\(result.stderr)")
        #expect(result.stderr.contains("bad.yaml: space.cell.choice[1]: 'rnn9' must be one of simple_rnn, lstm, gru"))
        #expect(result.stderr.contains("broken.yaml: not valid YAML"))
        #expect(result.stderr.contains("2 of 2 file(s) have problems"))
    }

    @Test func validateNeedsAFileAndNamesMissingOnes() async throws {
        await #expect(try RecurBinary.run(["sweep", "validate"]).status == 64)
        let missing = try await RecurBinary.run(["sweep", "validate", "/nonexistent/x.yaml"])
        #expect(missing.status == 1 && missing.stderr.contains("/nonexistent/x.yaml: cannot read the file"))
    }

    @Test func samplerBenchRuns() async throws {
        let result = try await RecurBinary.run(["bench", "sampler", "--history", "50", "--suggestions", "5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"method\":\"tpe\"") && result.stdout.contains("\"p99_ms\""))
    }

    /// The coordinator load generator runs whole lifecycles over the real API, with both clients
    /// and both transports, and checks the database afterwards.
    @Test(arguments: [["--client", "lean"], ["--client", "worker"], ["--transport", "unix"]])
    func coordinatorBenchRunsFullLifecycles(_ variant: [String]) async throws {
        let result = try await RecurBinary.run(["bench", "coordinator", "--clients", "3", "--trials", "12", "--epochs", "3", "--json"] + variant)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let row = try #require((object["results"] as? [[String: Any]])?.first)
        #expect(row["integrity_ok"] as? Bool == true && row["errors_total"] as? Int == 0 && row["trials"] as? Int == 12)
        #expect((row["calls_per_commit"] as? Double ?? 0) >= 1)
    }
}
