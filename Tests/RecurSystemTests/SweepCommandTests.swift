import Foundation
import Testing

@Suite struct SweepCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func validateAcceptsTheShippedSweeps() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("sweeps").path)
            .filter { $0.hasSuffix(".yaml") }.map { "sweeps/\($0)" }
        let result = try RecurBinary.run(["sweep", "validate"] + files, directory: Self.root)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == files.count)
        #expect(result.stdout.contains("task checked on datasets/greensboro-tmy3.csv"), "\(result.stdout)")
    }

    /// A task that parses but does not fit its data (a target the CSV lacks) fails validation
    /// when the dataset is at hand, as it would fail `recur run`.
    @Test func validateChecksTheTaskAgainstItsData() throws {
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
        let result = try RecurBinary.run(["sweep", "validate", "t.yaml"], directory: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("t.yaml: ") && result.stderr.contains("temperature"), "\(result.stderr)")
    }

    @Test func validateReportsEveryProblemAndFails() throws {
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
        let result = try RecurBinary.run(["sweep", "validate", "bad.yaml", "broken.yaml"], directory: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("bad.yaml: space.dropout.float[1]: 1.5 must be < 1"), "\(result.stderr)")
        #expect(result.stderr.contains("bad.yaml: space.cell.choice[1]: 'rnn9' must be one of simple_rnn, lstm, gru"))
        #expect(result.stderr.contains("broken.yaml: not valid YAML"))
        #expect(result.stderr.contains("2 of 2 file(s) have problems"))
    }

    @Test func validateNeedsAFileAndNamesMissingOnes() throws {
        #expect(try RecurBinary.run(["sweep", "validate"]).status == 64)
        let missing = try RecurBinary.run(["sweep", "validate", "/nonexistent/x.yaml"])
        #expect(missing.status == 1 && missing.stderr.contains("/nonexistent/x.yaml: cannot read the file"))
    }

    @Test func samplerBenchRuns() throws {
        let result = try RecurBinary.run(["bench", "sampler", "--history", "50", "--suggestions", "5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"method\":\"tpe\"") && result.stdout.contains("\"p99_ms\""))
    }

    /// The coordinator load generator runs whole lifecycles over the real API, with both clients
    /// and both transports, and checks the database afterwards.
    @Test(arguments: [["--client", "lean"], ["--client", "worker"], ["--transport", "unix"]])
    func coordinatorBenchRunsFullLifecycles(_ variant: [String]) throws {
        let result = try RecurBinary.run(["bench", "coordinator", "--clients", "3", "--trials", "12", "--epochs", "3", "--json"] + variant)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let row = try #require((object["results"] as? [[String: Any]])?.first)
        #expect(row["integrity_ok"] as? Bool == true && row["errors_total"] as? Int == 0 && row["trials"] as? Int == 12)
        #expect((row["calls_per_commit"] as? Double ?? 0) >= 1)
    }
}
