import Foundation
import Hummingbird
import HummingbirdTesting
import OpenAPIRuntime
import RecurAPI
import RecurEngine
import RecurStore
import RecurSweep
import Testing

@testable import RecurCoordinator

/// The router, in process: auth, bad bodies, the lease lifecycle and the spec.
@Suite struct RouterTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func app(token: String? = "secret") throws -> (some ApplicationProtocol, Coordinator) {
        let coordinator = try Coordinator(store: SweepStore(), leaseSeconds: 30, datasetDirectory: root)
        let access = token.map { AccessControl(adminToken: $0, store: coordinator.store) }
        let router = try buildRouter(coordinator: coordinator, metrics: HTTPMetrics(), access: access)
        return (Application(router: router), coordinator)
    }

    static let auth: HTTPFields = [.authorization: "Bearer secret", .contentType: "application/json"]

    static func body<T: Encodable>(_ value: T) -> ByteBuffer { ByteBuffer(bytes: try! API.encoder().encode(value)) }

    static let sweepYAML = """
        name: tiny
        task: {dataset: datasets/greensboro-tmy3.csv, target: temp_c, features: [temp_c, rh_pct], sequence_length: 24, horizon: 6}
        search: {method: random, seed: 1, max_trials: 2, max_parallel: 2}
        space:
          cell: {choice: [gru, lstm]}
          units: 4
        training: {epochs: 2}
        """

    /// The paths and methods of docs/openapi.yaml, read line by line (`  /path:` then `    get:`).
    static func documentedOperations() throws -> Set<String> {
        let spec = try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        var operations: Set<String> = []
        var path: String?
        var inPaths = false
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
                continue
            }
            for method in ["get", "head", "post", "put", "patch", "delete"] where line == "    \(method):" {
                operations.insert("\(method.uppercased()) \(path!)")
            }
        }
        return operations
    }

    /// The 405 table and the document name the same operations, and every one of them is served:
    /// a request with no body gets anything but 404 (generated routes and hand-written pages alike).
    @Test func everyDocumentedOperationIsServed() async throws {
        let documented = try Self.documentedOperations()
        #expect(documented.count >= 24, "the scan found only \(documented.count) operations")
        let table = Set(
            documentedRoutes.flatMap { entry in
                entry.methods.keys.map { "\($0.rawValue) /\(entry.template.joined(separator: "/"))".replacingOccurrences(of: "{}", with: "{x}") }
            }
        )
        let normalized = Set(documented.map { $0.replacing(#/\{[a-z0-9_]+\}/#, with: "{x}") })
        #expect(table == normalized, "documentedMethods and docs/openapi.yaml differ: \(table.symmetricDifference(normalized).sorted())")
        let (app, _) = try Self.app()
        try await app.test(.router) { client in
            for operation in documented.sorted() {
                let parts = operation.split(separator: " ")
                let uri = String(parts[1]).replacing(#/\{id\}/#, with: "1").replacing(#/\{[a-z0-9_]+\}/#, with: "x")
                try await client.execute(uri: uri, method: .init(String(parts[0]))!, headers: Self.auth) { r in
                    #expect(r.status != .notFound || operation.contains("{"), "\(operation) is not served: \(r.status)")
                    #expect(r.status != .methodNotAllowed && r.status.code < 500, "\(operation): \(r.status) \(String(buffer: r.body).prefix(200))")
                }
            }
            try await client.execute(uri: "/v1/sweeps", method: .delete, headers: Self.auth) { r in
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == "GET, POST")
                #expect(String(buffer: r.body).contains(#""code":"method_not_allowed""#))
            }
        }
    }

    /// A completion carries the checkpoint, so it may exceed the 8 MiB every other body is held to.
    @Test func checkpointsOverEightMiBUploadAsStreamsAndDownloadWhole() async throws {
        let (app, coordinator) = try Self.app()
        _ = try await coordinator.createSweep(yaml: Self.sweepYAML)
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        let checkpoint = Data((0..<(12 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
        let complete = API.CompleteRequest(valMae: 2, valLoss: 1, testMae: 3, bestEpoch: 1, epochsRun: 1)
        let octets: HTTPFields = [.authorization: "Bearer secret", .contentType: "application/octet-stream"]
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/leases/\(lease.token)/checkpoint", method: .put, headers: octets, body: ByteBuffer(bytes: checkpoint))
            { r in
                #expect(r.status == .noContent, "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/v1/leases/\(lease.token)/complete", method: .post, headers: Self.auth, body: Self.body(complete)) { r in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/v1/trials/\(lease.trialId)/checkpoint", method: .get, headers: Self.auth) { r in
                #expect(r.status == .ok && r.headers[.contentLength] == "\(checkpoint.count)")
                #expect(Data(r.body.readableBytesView) == checkpoint)
            }
            // An upload under a lease that is gone is refused before anything is written.
            try await client.execute(uri: "/v1/leases/\(lease.token)/checkpoint", method: .put, headers: octets, body: ByteBuffer(bytes: [1, 2])) {
                r in
                #expect(r.status == .conflict && String(buffer: r.body).contains(#""code":"lease_gone""#))
            }
        }
        #expect(try coordinator.store.checkpointData(trial: lease.trialId) == checkpoint)
    }

    /// `recur serve --max-checkpoint-bytes`: a larger upload is refused with 413, and the trial
    /// still completes (without a checkpoint).
    @Test func checkpointsOverTheLimitAre413() async throws {
        let coordinator = try Coordinator(store: SweepStore(), leaseSeconds: 30, datasetDirectory: Self.root)
        let app = Application(
            router: try buildRouter(
                coordinator: coordinator,
                metrics: HTTPMetrics(),
                access: AccessControl(adminToken: "secret", store: coordinator.store),
                maximumCheckpointBytes: 4096
            )
        )
        _ = try await coordinator.createSweep(yaml: Self.sweepYAML)
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        let octets: HTTPFields = [.authorization: "Bearer secret", .contentType: "application/octet-stream"]
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/leases/\(lease.token)/checkpoint",
                method: .put,
                headers: octets,
                body: ByteBuffer(repeating: 7, count: 5000)
            ) { r in
                #expect(r.status == .contentTooLarge && String(buffer: r.body).contains(#""code":"body_too_large""#))
            }
            let complete = API.CompleteRequest(valMae: 2, valLoss: 1, testMae: 3, bestEpoch: 1, epochsRun: 1)
            try await client.execute(uri: "/v1/leases/\(lease.token)/complete", method: .post, headers: Self.auth, body: Self.body(complete)) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/v1/trials/\(lease.trialId)/checkpoint", method: .get, headers: Self.auth) { r in
                #expect(r.status == .notFound && String(buffer: r.body).contains(#""code":"no_checkpoint""#))
            }
        }
    }

    /// Query values from a link are never trusted: a page past the end shows the last page; a
    /// value outside the documented schema (an unknown sort key, page 0) is 400 and not echoed.
    @Test func dashboardClampsThePageAndRefusesUnknownSortKeys() async throws {
        let (app, coordinator) = try Self.app()
        _ = try await coordinator.createSweep(
            yaml: Self.sweepYAML.replacingOccurrences(of: "max_trials: 2, max_parallel: 2", with: "max_trials: 60, max_parallel: 60")
                .replacingOccurrences(of: "cell: {choice: [gru, lstm]}", with: "learning_rate: {float: [0.0001, 0.1], log: true}")
        )
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 60, version: "t", engineVersion: BuildInfo.engineVersion))
        for _ in 0..<55 { _ = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease) }
        let script = "%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
        try await app.test(.router) { client in
            try await client.execute(uri: "/sweeps/tiny?page=999", method: .get, headers: Self.auth) { r in
                let html = String(buffer: r.body)
                #expect(r.status == .ok, "\(html.prefix(300))")
                #expect(html.contains("page 2 of 2"))
                #expect(html.contains("sort=val_mae&amp;desc=0&amp;page=1") || html.contains("sort=val_mae&desc=0&page=1"))
            }
            for query in ["sort=\(script)", "page=0", "page=9223372036854775807", "desc=2", "standalone=yes"] {
                try await client.execute(uri: "/sweeps/tiny?\(query)", method: .get, headers: Self.auth) { r in
                    #expect(r.status == .badRequest, "\(query)")
                    #expect(!String(buffer: r.body).contains("<script>alert"))
                }
            }
        }
    }

    /// A running sweep's page polls itself (no reload by hand): it carries `data-refresh` and the
    /// script, an ETag, and a 304 for the ETag it was served with; its progress line has an ETA
    /// once an epoch is in. A finished sweep's page does not poll.
    @Test func aRunningSweepsPagePollsWithAnETag() async throws {
        let (app, coordinator) = try Self.app()
        _ = try await coordinator.createSweep(yaml: Self.sweepYAML)
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 2, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        _ = try await coordinator.report(token: lease.token, API.EpochReport(epoch: 1, trainLoss: 0.5, valLoss: 0.25, valMae: 3, seconds: 1))
        try await app.test(.router) { client in
            let tag = try await client.execute(uri: "/sweeps/tiny", method: .get, headers: Self.auth) { r in
                let html = String(buffer: r.body)
                #expect(r.status == .ok)
                #expect(html.contains(#"data-refresh="3""#) && html.contains("fetch(location.href"))
                #expect(html.contains(" · ends ≈ "), "\(html.prefix(2000))")
                #expect(r.headers[.cacheControl] == "no-cache")
                return try #require(r.headers[.eTag])
            }
            var conditional = Self.auth
            conditional[.ifNoneMatch] = tag
            try await client.execute(uri: "/sweeps/tiny", method: .get, headers: conditional) { r in
                #expect(r.status == .notModified && r.body.readableBytes == 0 && r.headers[.eTag] == tag)
            }
            conditional[.ifNoneMatch] = "\"stale\""
            try await client.execute(uri: "/sweeps/tiny", method: .get, headers: conditional) { r in #expect(r.status == .ok) }
        }
        _ = try await coordinator.setState(sweep: "tiny", to: .cancelled)
        try await app.test(.router) { client in
            try await client.execute(uri: "/sweeps/tiny", method: .get, headers: Self.auth) { r in
                let html = String(buffer: r.body)
                #expect(!html.contains("data-refresh") && !html.contains("fetch(location.href") && !html.contains(" · ends ≈ "))
            }
        }
    }

    /// With `objective.metric: val_loss` the stored best value is a loss, and every view says so.
    @Test func aValLossObjectiveIsNamedAsSuch() async throws {
        let (_, coordinator) = try Self.app()
        _ = try await coordinator.createSweep(yaml: Self.sweepYAML + "\nobjective: {metric: val_loss}\n")
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        _ = try await coordinator.report(token: lease.token, API.EpochReport(epoch: 1, trainLoss: 0.5, valLoss: 0.25, valMae: 3, seconds: 1))
        _ = try await coordinator.complete(
            token: lease.token,
            API.CompleteRequest(valMae: 3, valLoss: 0.25, testMae: 4, bestEpoch: 1, epochsRun: 1)
        )
        let summary = try coordinator.store.summary(named: "tiny")
        #expect(summary.objective == .valLoss && summary.bestValue == 0.25)
        #expect(try coordinator.store.trialDetail(id: lease.trialId).objective == .valLoss)
        let html = try Dashboard.sweep(store: coordinator.store, name: "tiny")
        #expect(html.contains("best val loss 0.250") && !html.contains("best val MAE"))
    }

    /// The templates escape what they show: a value from a request or the database never
    /// becomes markup.
    @Test func templatesEscapeWhatTheyShow() {
        let login = Dashboard.login(next: "/x\"><script>alert(1)</script>")
        #expect(!login.contains("<script>") && login.contains("&quot;&gt;&lt;script&gt;"))
        let message = Dashboard.message("Not found", "no sweep named '<b>x</b>'")
        #expect(message.contains("&lt;b&gt;x&lt;/b&gt;") && message.contains("<title>Not found — Recur</title>"))
    }

    /// `POST /v1/sweeps` follows `recur run`'s rules: the same definition again resumes (200), a
    /// higher max_trials extends the sweep, another definition under the name is 422.
    @Test func creatingAnExistingSweepResumesItUnderTheRunRules() async throws {
        let (app, coordinator) = try Self.app()
        try await app.test(.router) { client in
            for (yaml, status) in [
                (Self.sweepYAML, HTTPResponse.Status.created), (Self.sweepYAML, .ok),
                (Self.sweepYAML.replacingOccurrences(of: "max_trials: 2", with: "max_trials: 5"), .ok),
                (Self.sweepYAML.replacingOccurrences(of: "units: 4", with: "units: 8"), .unprocessableContent),
            ] {
                try await client.execute(uri: "/v1/sweeps", method: .post, headers: Self.auth, body: Self.body(API.SweepDefinition(yaml: yaml))) {
                    r in
                    #expect(r.status == status, "\(String(buffer: r.body))")
                }
            }
        }
        #expect(try coordinator.summary(named: "tiny").maxTrials == 5)
    }

    /// Two creates of one new sweep at once: one creates it, the other resumes it.
    @Test func concurrentCreatesOfOneSweepBothSucceed() async throws {
        let (_, coordinator) = try Self.app()
        async let first = coordinator.open(yaml: Self.sweepYAML, source: "a")
        async let second = coordinator.open(yaml: Self.sweepYAML, source: "b")
        let outcomes = try await [first.opening, second.opening]
        #expect(outcomes.contains(.created) && outcomes.contains(.resumed(maxTrialsBefore: nil, maxTrialsAfter: nil)), "\(outcomes)")
    }

    /// Creates the tiny sweep, registers a worker and leases the sweep's first run, over HTTP.
    static func leaseFirstRun(_ client: some TestClientProtocol) async throws -> API.Lease {
        try await client.execute(uri: "/v1/sweeps", method: .post, headers: Self.auth, body: Self.body(API.SweepDefinition(yaml: Self.sweepYAML))) {
            #expect($0.status == .created)
        }
        let register = try await client.execute(
            uri: "/v1/workers",
            method: .post,
            headers: Self.auth,
            body: Self.body(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        )
        let worker = try API.decoder().decode(API.RegisterResponse.self, from: Data(register.body.readableBytesView))
        let leaseResponse = try await client.execute(
            uri: "/v1/lease",
            method: .post,
            headers: Self.auth,
            body: Self.body(API.LeaseRequest(workerId: worker.workerId, sweep: nil, waitSeconds: 0))
        )
        return try #require(try API.decoder().decode(API.LeaseResponse.self, from: Data(leaseResponse.body.readableBytesView)).lease)
    }

    /// register → lease → report ×2 → complete; a stale report afterwards is 409 and changes nothing.
    @Test func aLeaseLifecycleOverHTTP() async throws {
        let (app, coordinator) = try Self.app()
        try await app.test(.router) { client in
            let lease = try await Self.leaseFirstRun(client)
            #expect(lease.task.datasetSHA256?.count == 64 && lease.model.inputFeatures == 2)
            for epoch in 1...2 {
                try await client.execute(
                    uri: "/v1/leases/\(lease.token)/epochs",
                    method: .post,
                    headers: Self.auth,
                    body: Self.body(API.EpochReport(epoch: epoch, trainLoss: 1, valLoss: 1, valMae: 2, seconds: 0.1))
                ) { r in
                    #expect(r.status == .ok)
                    #expect(String(buffer: r.body).contains("\"continue\""))
                }
            }
            let complete = API.CompleteRequest(
                valMae: 2,
                valLoss: 1,
                testMae: 3,
                bestEpoch: 2,
                epochsRun: 2
            )
            try await client.execute(uri: "/v1/leases/\(lease.token)/complete", method: .post, headers: Self.auth, body: Self.body(complete)) {
                #expect($0.status == .ok)
            }
            try await client.execute(
                uri: "/v1/leases/\(lease.token)/epochs",
                method: .post,
                headers: Self.auth,
                body: Self.body(API.EpochReport(epoch: 3, trainLoss: 1, valLoss: 1, valMae: 2, seconds: 0.1))
            ) { r in
                #expect(r.status == .conflict && String(buffer: r.body).contains(#""code":"lease_gone""#))
            }
            try await client.execute(uri: "/v1/sweeps/tiny/leaderboard", method: .get, headers: Self.auth) { r in
                let rows = try API.decoder().decode([API.LeaderboardRow].self, from: Data(r.body.readableBytesView))
                #expect(rows.first?.state == .completed && rows.first?.testMae == 3 && rows.first?.epochs == 2)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: Self.auth) { r in
                let text = String(buffer: r.body)
                #expect(
                    text.contains("recur_leases_total 1") && text.contains("recur_completions_total 1") && text.contains("recur_stale_calls_total 1")
                )
                #expect(text.contains("recur_http_request_seconds_bucket{route=\"/v1/leases/{token}/epochs\""))
            }
            // A second scrape publishes only what is new: the tallies are not added again.
            try await client.execute(uri: "/metrics", method: .get, headers: Self.auth) { r in
                let text = String(buffer: r.body)
                #expect(text.contains("recur_leases_total 1\n") && text.contains("recur_completions_total 1\n"), "\(text)")
                #expect(text.contains("recur_http_requests_total{route=\"/metrics\",status=\"200\"} 1\n"), "\(text)")
            }
        }
        #expect(try coordinator.store.metrics(trial: 1).count == 2)
    }

    /// A worker's numbers are checked before they are stored: a negative or non-float32 metric is
    /// a 400 naming the field, an epoch beyond the run's or a best epoch after its last a 409, and
    /// the sweep stays readable (a value near Double's limit once made its runs' mean infinite and
    /// every read of the sweeps a 500).
    @Test func aWorkersMetricsAreCheckedBeforeTheyAreStored() async throws {
        let (app, coordinator) = try Self.app()
        try await app.test(.router) { client in
            let lease = try await Self.leaseFirstRun(client)
            // Malformed numbers are 400s; what the run's own state rules out (an epoch beyond its
            // epochs, a best epoch after its last) is a 409.
            let badReports: [(API.EpochReport, HTTPResponse.Status, String)] = [
                (
                    API.EpochReport(epoch: 1, trainLoss: 1, valLoss: 1, valMae: -5, seconds: 0.1), .badRequest,
                    "val_mae: -5.0 must be from 0 to 3.4e38"
                ),
                (
                    API.EpochReport(epoch: 1, trainLoss: 1.7e308, valLoss: 1, valMae: 2, seconds: 0.1), .badRequest,
                    "train_loss: 1.7e+308 must be from 0"
                ),
                (API.EpochReport(epoch: 3, trainLoss: 1, valLoss: 1, valMae: 2, seconds: 0.1), .conflict, "epoch: 3 is beyond this run's 2 epochs"),
                (
                    API.EpochReport(epoch: 1, trainLoss: 1, valLoss: 1, valMae: 2, seconds: 1e12), .badRequest,
                    "seconds: 1000000000000.0 must be from 0"
                ),
            ]
            for (report, status, message) in badReports {
                try await client.execute(uri: "/v1/leases/\(lease.token)/epochs", method: .post, headers: Self.auth, body: Self.body(report)) { r in
                    let text = String(buffer: r.body)
                    #expect(r.status == status && text.contains(message), "\(text)")
                }
            }
            let badCompletions: [(API.CompleteRequest, HTTPResponse.Status, String)] = [
                (
                    API.CompleteRequest(valMae: 1.7e308, valLoss: 1, testMae: 3, bestEpoch: 2, epochsRun: 2), .badRequest,
                    "val_mae: 1.7e+308 must be from 0"
                ),
                (API.CompleteRequest(valMae: 2, valLoss: 1, testMae: -1, bestEpoch: 2, epochsRun: 2), .badRequest, "test_mae: -1.0 must be from 0"),
                (
                    API.CompleteRequest(valMae: 2, valLoss: 1, testMae: 3, bestEpoch: 5, epochsRun: 2), .conflict,
                    "best_epoch: 5 is after epochs_run 2"
                ),
                (
                    API.CompleteRequest(valMae: 2, valLoss: 1, testMae: 3, bestEpoch: 2, epochsRun: 500), .conflict,
                    "epochs_run: 500 is beyond this run's 2"
                ),
            ]
            for (request, status, message) in badCompletions {
                try await client.execute(uri: "/v1/leases/\(lease.token)/complete", method: .post, headers: Self.auth, body: Self.body(request)) {
                    r in
                    let text = String(buffer: r.body)
                    #expect(r.status == status && text.contains(message), "\(text)")
                }
            }
            let good = API.CompleteRequest(valMae: 2, valLoss: 1, testMae: 3, bestEpoch: 1, epochsRun: 2)
            try await client.execute(uri: "/v1/leases/\(lease.token)/complete", method: .post, headers: Self.auth, body: Self.body(good)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v1/sweeps", method: .get, headers: Self.auth) { #expect($0.status == .ok) }
        }
        #expect(try coordinator.store.metrics(trial: 1).isEmpty)
    }

    /// HEAD is GET without the body on every GET route (it was 404), and 405 where GET is not allowed either.
    @Test func headIsAnsweredAsGetWithoutTheBody() async throws {
        let (app, _) = try Self.app()
        try await app.test(.router) { client in
            for path in ["/v1/sweeps", "/metrics", "/"] {
                let get = try await client.execute(uri: path, method: .get, headers: Self.auth)
                try await client.execute(uri: path, method: .head, headers: Self.auth) { r in
                    #expect(
                        r.status == get.status && r.status != .notFound && r.body.readableBytes == 0,
                        "\(path): HEAD \(r.status), GET \(get.status)"
                    )
                }
            }
            try await client.execute(uri: "/v1/lease", method: .head, headers: Self.auth) { #expect($0.status == .methodNotAllowed) }
        }
    }

    @Test func unixListenersNeedNoToken() async throws {
        let (app, _) = try Self.app(token: nil)
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/sweeps", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func listenerAddressesParse() {
        #expect(Listener("tcp://127.0.0.1:7878") == .tcp(host: "127.0.0.1", port: 7878))
        #expect(Listener("tcp://[::1]:0") == .tcp(host: "::1", port: 0))
        #expect(Listener("unix:/tmp/r.sock") == .unix(path: "/tmp/r.sock"))
        #expect(Listener("http://x") == nil && Listener("tcp://host") == nil && Listener("unix:") == nil)
    }
}
