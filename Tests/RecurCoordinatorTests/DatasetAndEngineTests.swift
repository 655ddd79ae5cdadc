import Foundation
import Hummingbird
import HummingbirdTesting
import RecurAPI
import RecurEngine
import RecurForecast
import RecurStore
import RecurSweep
import Testing

@testable import RecurCoordinator

/// Datasets by content over the router, and sweeps pinned to their creator's engine.
@Suite struct DatasetAndEngineTests {
    static let csv: Data = {
        var text = "timestamp,load,temp\n"
        for i in 0..<400 {
            text += "\(Timestamp.format(978_307_200 + Int64(i) * 3600)),\(50 + 10 * sin(Double(i) / 4)),\(10 + Double(i % 24))\n"
        }
        return Data(text.utf8)
    }()

    static let yaml = """
        name: remote
        task: {dataset: only-on-the-laptop/series.csv, target: load, sequence_length: 12, horizon: 2}
        search: {method: random, seed: 1, max_trials: 2, max_parallel: 2}
        space:
          units: 4
          cell: {choice: [gru, lstm]}
        training: {epochs: 2}
        """

    static let octets: HTTPFields = [.authorization: "Bearer secret", .contentType: "application/octet-stream"]

    @Test func datasetsUploadByHashAndDownloadWithRanges() async throws {
        let (app, coordinator) = try RouterTests.app()
        let sha = sha256Hex(Self.csv)
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .head, headers: RouterTests.auth) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .put, headers: Self.octets, body: ByteBuffer(string: "other bytes")) { r in
                #expect(r.status == .unprocessableContent && String(buffer: r.body).contains(#""code":"dataset_mismatch""#))
            }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .put, headers: Self.octets, body: ByteBuffer(bytes: Self.csv)) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .put, headers: Self.octets, body: ByteBuffer(bytes: Self.csv)) {
                #expect($0.status == .ok, "a second upload of the same bytes is a no-op")
            }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .head, headers: RouterTests.auth) { r in
                #expect(r.status == .ok && r.headers[.contentLength] == "\(Self.csv.count)")
            }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .get, headers: RouterTests.auth) { r in
                #expect(r.status == .ok && Data(r.body.readableBytesView) == Self.csv)
            }
            var ranged = RouterTests.auth
            ranged[.range] = "bytes=100-"
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .get, headers: ranged) { r in
                #expect(r.status == .partialContent)
                #expect(r.headers[.contentRange] == "bytes 100-\(Self.csv.count - 1)/\(Self.csv.count)", "\(r.headers)")
                #expect(Data(r.body.readableBytesView) == Self.csv.suffix(from: 100))
            }
            ranged[.range] = "bytes=\(Self.csv.count)-"
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .get, headers: ranged) { r in
                #expect(r.status == .rangeNotSatisfiable && String(buffer: r.body).contains(#""code":"range_not_satisfiable""#))
            }
            try await client.execute(uri: "/v1/datasets/NOT-A-HASH", method: .get, headers: RouterTests.auth) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/datasets/\(String(repeating: "0", count: 64))", method: .get, headers: RouterTests.auth) { r in
                #expect(r.status == .notFound && String(buffer: r.body).contains(#""code":"unknown_dataset""#))
            }
        }
        #expect(await coordinator.counters.datasetDownloads == 2)
    }

    /// A dataset the coordinator reads from its own disk is checked before it is stored: a file
    /// that is no dataset for the task is refused and not kept (nor served by its hash), a device
    /// or a directory is refused without being read (`/dev/zero` once hung the request), and a
    /// symbolic link to a dataset is read as the file it names.
    @Test func aLocalDatasetIsCheckedBeforeItIsStored() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-local-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("x\n1\n2\n".utf8).write(to: dir.appendingPathComponent("one.csv"))
        try FileManager.default.createSymbolicLink(
            at: dir.appendingPathComponent("link.csv"),
            withDestinationURL: RouterTests.root.appendingPathComponent("datasets/greensboro-tmy3.csv")
        )
        let coordinator = try Coordinator(store: SweepStore(), leaseSeconds: 30, datasetDirectory: dir)
        func yaml(_ name: String, _ dataset: String) -> String { "name: \(name)\ntask: {dataset: \(dataset), target: temp_c}\nspace:\n  units: 4\n" }
        for (dataset, message) in [("one.csv", "the header has 1 column"), ("/dev/zero", "as a regular file"), ("/tmp", "as a regular file")] {
            do {
                _ = try await coordinator.createSweep(yaml: yaml("local", dataset))
                Issue.record("\(dataset) accepted")
            } catch let error as SweepSpecError {
                #expect(error.problems.contains { $0.contains(message) }, "\(dataset): \(error.problems)")
            }
        }
        let stored = { (try? FileManager.default.contentsOfDirectory(atPath: coordinator.store.datasetDirectory.path)) ?? [] }
        #expect(stored().isEmpty, "\(stored())")
        let linked = try await coordinator.createSweep(yaml: yaml("linked", "link.csv"))
        let sha = try #require(linked.definitionJson.datasetSHA256)
        #expect(stored() == ["\(sha).csv"])
        #expect(try Data(contentsOf: coordinator.store.datasetFile(sha256: sha)) == Data(contentsOf: dir.appendingPathComponent("link.csv")))
    }

    /// A partial upload left by a coordinator that stopped is removed when the next one starts.
    @Test func partialUploadsAreRemovedAtStart() throws {
        let store = try SweepStore()
        let part = try store.datasetPartFile()
        try Data("half a file".utf8).write(to: part)
        _ = try Coordinator(store: store, leaseSeconds: 30, datasetDirectory: RouterTests.root)
        #expect(!FileManager.default.fileExists(atPath: part.path))
    }

    /// A stored dataset whose bytes no longer hash to its name is never served, and uploading the
    /// file again repairs it.
    @Test func aDamagedStoredDatasetIsRefusedAndReplaced() async throws {
        let (app, coordinator) = try RouterTests.app()
        let sha = sha256Hex(Self.csv)
        try FileManager.default.createDirectory(at: coordinator.store.datasetDirectory, withIntermediateDirectories: true)
        try Self.csv.prefix(100).write(to: coordinator.store.datasetFile(sha256: sha))
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .head, headers: RouterTests.auth) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .put, headers: Self.octets, body: ByteBuffer(bytes: Self.csv)) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .get, headers: RouterTests.auth) { r in
                #expect(r.status == .ok && Data(r.body.readableBytesView) == Self.csv)
            }
        }
    }

    /// A sweep created from another machine names its dataset by hash: the coordinator never
    /// needs the creator's path, and refuses a hash it does not hold.
    @Test func aSweepNamesItsDatasetByHash() async throws {
        let (app, coordinator) = try RouterTests.app()
        let sha = sha256Hex(Self.csv)
        let create = API.SweepDefinition(yaml: Self.yaml, datasetSha256: sha, engineVersion: BuildInfo.engineVersion)
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/sweeps", method: .post, headers: RouterTests.auth, body: RouterTests.body(create)) { r in
                #expect(r.status == .unprocessableContent && String(buffer: r.body).contains("upload it first"))
            }
            try await client.execute(
                uri: "/v1/sweeps",
                method: .post,
                headers: RouterTests.auth,
                body: RouterTests.body(API.SweepDefinition(yaml: Self.yaml))
            ) { r in
                #expect(r.status == .unprocessableContent && String(buffer: r.body).contains("recur sweep create"), "no hash, no such file")
            }
            try await client.execute(uri: "/v1/datasets/\(sha)", method: .put, headers: Self.octets, body: ByteBuffer(bytes: Self.csv)) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/v1/sweeps", method: .post, headers: RouterTests.auth, body: RouterTests.body(create)) { r in
                #expect(r.status == .created, "\(String(buffer: r.body))")
            }
            let other = API.SweepDefinition(yaml: Self.yaml, datasetSha256: String(repeating: "1", count: 64), engineVersion: nil)
            try await client.execute(uri: "/v1/sweeps", method: .post, headers: RouterTests.auth, body: RouterTests.body(other)) { r in
                #expect(r.status == .unprocessableContent, "the same sweep over other bytes is not a resume")
            }
        }
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        #expect(lease.task.datasetSHA256 == sha && lease.task.dataset == "only-on-the-laptop/series.csv" && lease.model.inputFeatures == 2)
        #expect(try coordinator.summary(named: "remote").datasetSha256 == sha)
    }

    /// A sweep pins its creator's engine: a worker with another gets 409 for that sweep by name,
    /// and is told which sweeps it skipped otherwise; `workers: {engine: any}` takes every worker.
    @Test func sweepsPinTheirCreatorsEngine() async throws {
        let (_, coordinator) = try RouterTests.app()
        let sha = try coordinator.store.importDataset(
            from: { () throws -> URL in
                let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-engine-\(UUID().uuidString).csv")
                try Self.csv.write(to: url)
                return url
            }()
        )
        _ = try await coordinator.createSweep(yaml: Self.yaml, origin: .init(datasetSHA256: sha, engineVersion: "9.9.9"))
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        await #expect {
            _ = try await coordinator.lease(worker: worker.workerId, sweep: "remote")
        } throws: { error in
            let failure = error as? APIFailure
            return failure?.code == .engineMismatch && failure?.status == .conflict && failure?.message.contains("9.9.9") == true
        }
        let skipped = try await coordinator.lease(worker: worker.workerId, sweep: nil)
        #expect(skipped.lease == nil && skipped.incompatible == [.init(sweep: "remote", engineVersion: "9.9.9")])
        #expect(try coordinator.summary(named: "remote").engineVersion == "9.9.9")
        // Workers are recorded with their engine, checkpoint format and CPU, and attempts show them.
        _ = try await coordinator.createSweep(
            yaml: Self.yaml.replacingOccurrences(of: "name: remote", with: "name: open") + "\nworkers: {engine: any}\n",
            origin: .init(datasetSHA256: sha, engineVersion: "9.9.9")
        )
        let old = try await coordinator.register(
            API.RegisterRequest(host: "old", slots: 1, version: "recur-0.1", engineVersion: "0.1.0", checkpointFormat: "f", cpuFeatures: "avx2,fma")
        )
        let lease = try #require(try await coordinator.lease(worker: old.workerId, sweep: nil).lease)
        #expect(lease.sweep == "open")
        let attempt = try #require(try coordinator.trial(id: lease.trialId).attempts.first)
        #expect(attempt.engineVersion == "0.1.0" && attempt.cpuFeatures == "avx2,fma" && attempt.workerVersion == "recur-0.1")
        #expect(try coordinator.workers().contains { $0.engineVersion == "0.1.0" && $0.checkpointFormat == "f" })
    }
}

/// Skill over persistence: a sweep keeps its dataset's baselines from creation, and every view
/// says how far a trial is from "the last observed value".
@Suite struct SkillTests {
    @Test func trialsAreScoredAgainstPersistence() async throws {
        let (_, coordinator) = try RouterTests.app()
        _ = try await coordinator.createSweep(yaml: RouterTests.sweepYAML)
        let persistence = try #require(try coordinator.summary(named: "tiny").persistenceValMae)
        let testPersistence = try #require(try coordinator.summary(named: "tiny").persistenceTestMae)
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 2, version: "t", engineVersion: BuildInfo.engineVersion))
        let better = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        let worse = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        for (lease, factor) in [(better, 0.5), (worse, 2.0)] {
            _ = try await coordinator.report(
                token: lease.token,
                API.EpochReport(epoch: 1, trainLoss: 1, valLoss: 1, valMae: persistence * factor, seconds: 0.1)
            )
            _ = try await coordinator.complete(
                token: lease.token,
                API.CompleteRequest(valMae: persistence * factor, valLoss: 1, testMae: testPersistence * factor, bestEpoch: 1, epochsRun: 1)
            )
        }
        let rows = try coordinator.leaderboard(sweep: "tiny", top: nil)
        #expect(rows.map(\.valSkill).map { $0.map { ($0 * 1000).rounded() / 1000 } } == [0.5, -1.0])
        #expect(rows.map(\.testSkill).map { $0.map { ($0 * 1000).rounded() / 1000 } } == [0.5, -1.0])
        #expect(abs((try coordinator.summary(named: "tiny").bestValSkill ?? 0) - 0.5) < 1e-9)
        let html = try Dashboard.sweep(store: coordinator.store, name: "tiny")
        #expect(html.contains("+50.0%") && html.contains("-100.0%") && html.contains("class=\"baseline\""))
        // Persistence is a row of the leaderboard, between the trial that beats it and the one that does not.
        let table = try #require(html.components(separatedBy: "id=\"leaderboard\"").last?.components(separatedBy: "</table>").first)
        let order = ["+50.0%", ">persistence<", "-100.0%"].map { table.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil } && order[0]! < order[1]! && order[1]! < order[2]!, "\(table)")
        // The curves name their trials and the baseline in a legend, and have ticks on both axes.
        #expect(html.contains("class=\"legend\"") && html.contains(">persistence ") && html.contains("class=\"tick\""))
    }

    /// A searched `target_mode` reaches the worker in the trial's task.
    @Test func aSampledTargetModeTravelsInTheLease() async throws {
        let (_, coordinator) = try RouterTests.app()
        _ = try await coordinator.createSweep(
            yaml: RouterTests.sweepYAML.replacingOccurrences(of: "  units: 4", with: "  units: 4\n  target_mode: {choice: [delta]}")
        )
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        #expect(lease.task.mode == .delta && lease.config["target_mode"] == .string("delta"))
    }
}

/// Persistence's row stands at its rank across pages: after the 50 trials that beat it, at the
/// top of page 2 — not lost between pages.
@Suite struct PersistenceRowTests {
    @Test func thePersistenceRowFindsItsPage() async throws {
        let (_, coordinator) = try RouterTests.app()
        _ = try await coordinator.createSweep(
            yaml: RouterTests.sweepYAML.replacingOccurrences(of: "max_trials: 2, max_parallel: 2", with: "max_trials: 52, max_parallel: 52")
                .replacingOccurrences(of: "cell: {choice: [gru, lstm]}", with: "learning_rate: {float: [0.0001, 0.1], log: true}")
        )
        let persistence = try #require(try coordinator.summary(named: "tiny").persistenceValMae)
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 52, version: "t", engineVersion: BuildInfo.engineVersion))
        for i in 0..<52 {
            let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
            let value = i < 50 ? persistence * 0.5 + Double(i) * 1e-4 : persistence * 2
            _ = try await coordinator.complete(
                token: lease.token,
                API.CompleteRequest(valMae: value, valLoss: 1, testMae: 1, bestEpoch: 1, epochsRun: 1)
            )
        }
        let first = try Dashboard.sweep(store: coordinator.store, name: "tiny", page: 1)
        let second = try Dashboard.sweep(store: coordinator.store, name: "tiny", page: 2)
        #expect(!first.contains(">persistence<"))
        let table = try #require(second.components(separatedBy: "id=\"leaderboard\"").last?.components(separatedBy: "</table>").first)
        let rows = table.components(separatedBy: "<tr class=").dropFirst()
        #expect(rows.first?.contains(">persistence<") == true, "\(table)")
    }
}

/// The learning curves keep their useful range: one diverging curve is clipped, not allowed to
/// flatten the rest, and the plot says so.
@Suite struct CurvePlotTests {
    @Test func anOutlierIsClippedAndSaid() {
        let curves: [(label: String, values: [Double], pruned: Bool)] =
            (0..<9).map { (label: "trial \($0)", values: [2.5, 2.2, 2.0 + Double($0) * 0.01], pruned: false) } + [
                (label: "trial 9", values: [9.98, 9.9, 9.8], pruned: false)
            ]
        let svg = SVGPlots.learningCurves(curves, baseline: (label: "persistence", value: 1.93))
        #expect(svg.contains("drawn at the top") && !svg.contains(">9.98<"))
        #expect(svg.components(separatedBy: "class=\"legend\"").count == 12, "ten trials and the baseline are named")
        let calm = SVGPlots.learningCurves(Array(curves.prefix(9)))
        #expect(!calm.contains("drawn at the top"))
    }
}
