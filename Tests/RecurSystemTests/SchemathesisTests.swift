import Foundation
import GRDB
import RecurStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The coordinator against its own contract: Schemathesis fuzzes a real `recur serve` from
/// docs/openapi.yaml, with every check, in its coverage, fuzzing and stateful phases. The server
/// holds a finished sweep and a running one with trials to lease, so the stateful phase plays
/// worker (register → lease → report, upload, complete, fail, release) through the document's links. `.ci/run` installs Schemathesis in a throwaway venv and names it in
/// `RECUR_SCHEMATHESIS`; the product itself needs no Python.
@Suite(.serialized, .systemTestSlot) struct SchemathesisTests {
    static let st = SystemTools.find([ProcessInfo.processInfo.environment["RECUR_SCHEMATHESIS"] ?? "", "st", "schemathesis"])
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(.enabled(if: SystemTools.shouldRun(st != nil), "needs Schemathesis (.ci/run installs it; or set RECUR_SCHEMATHESIS)"))
    func theCoordinatorConformsToItsDocument() async throws {
        let st = try #require(Self.st, "needs Schemathesis; .ci/run installs it in a venv and sets RECUR_SCHEMATHESIS")
        let cluster = try Cluster(rows: 1200)
        defer { cluster.stopAll() }
        try Data(cluster.sweepYAML(name: "it", trials: 2, parallel: 1, epochs: 2).utf8).write(to: cluster.dir.appendingPathComponent("s.yaml"))
        let run = try await RecurBinary.run(["run", "s.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir)
        try #require(run.status == 0, "\(run.stderr)")
        try await cluster.startCoordinator()
        // Schemathesis registers workers with whatever engine it makes up: this sweep takes any.
        try await cluster.createSweep(
            cluster.sweepYAML(name: "live", trials: 500, parallel: 500, epochs: 3, pruning: "median") + "\nworkers: {engine: any}\n"
        )
        let token = try String(contentsOfFile: cluster.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

        let report = cluster.dir.appendingPathComponent("st.json")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: st)
        process.arguments = [
            "--config-file", Self.root.appendingPathComponent("Tests/RecurSystemTests/schemathesis.toml").path, "run",
            Self.root.appendingPathComponent("docs/openapi.yaml").path, "--url", "http://127.0.0.1:\(cluster.port)", "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--report", "json", "--report-json-path", report.path, "--no-color",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["ST_TOKEN"] = token
        let dataset: String = try #require(try cluster.store().sweep(named: "live").definitionJson.datasetSHA256)
        environment["ST_DATASET"] = dataset
        process.environment = environment
        process.currentDirectoryURL = cluster.dir
        let output = cluster.dir.appendingPathComponent("st.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        await process.ended()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "schemathesis failed:\n\(text.suffix(6000))")

        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any],
            "no JSON report:\n\(text.suffix(3000))"
        )
        let cases = try #require(json["test_cases"] as? [String: Any])
        let generated = cases["generated"] as? Int ?? 0
        #expect(generated >= 1000, "only \(generated) cases generated")
        #expect(cases["with_failures"] as? Int == 0 && cases["errored"] as? Int == 0, "\(cases)")
        #expect((json["failures"] as? [Any])?.isEmpty ?? false, "failures: \(String(describing: json["failures"]).prefix(3000))")
        #expect((json["errors"] as? [Any])?.isEmpty ?? false, "errors: \(String(describing: json["errors"]).prefix(3000))")
        let phases = json["phases"] as? [String: [String: Any]] ?? [:]
        for phase in ["coverage", "fuzzing", "stateful"] {
            #expect(phases[phase]?["status"] as? String == "success", "phase \(phase): \(String(describing: phases[phase]))")
        }

        // Still answering, and the database is whole.
        #expect(cluster.coordinator!.isRunning)
        #expect(RawHTTP.status(port: cluster.port, method: "GET", path: "/v1/sweeps", token: token, body: []) == 200)
        let check = try await DatabaseQueue(path: cluster.database).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(check == "ok")
        // The worker protocol was played for real: trials of the live sweep were leased.
        let leased = try cluster.count(
            "SELECT COUNT(*) FROM attempts a JOIN trials t ON t.id = a.trial_id JOIN sweeps s ON s.id = t.sweep_id WHERE s.name = 'live'"
        )
        #expect(leased > 0, "the stateful phase leased no trial")
        print("schemathesis: \(generated) cases, 0 failures; summary:\n\(text.components(separatedBy: "SUMMARY").last?.prefix(1500) ?? "")")
    }
}
