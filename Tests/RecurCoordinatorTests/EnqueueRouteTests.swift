import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import RecurAPI
import RecurEngine
import RecurStore
import RecurSweep
import Testing

@testable import RecurCoordinator

/// `POST /v1/sweeps/{name}/enqueue` through the router: queued configs are leased first,
/// duplicates skipped, bad ones 422 with every problem, no room 409, and a restart keeps them.
@Suite struct EnqueueRouteTests {
    @Test func enqueuedConfigsAreLeasedFirstAndSurviveARestart() async throws {
        let store = try SweepStore()
        let coordinator = try Coordinator(store: store, leaseSeconds: 600, datasetDirectory: RouterTests.root)
        let router = try buildRouter(coordinator: coordinator, metrics: HTTPMetrics(), access: AccessControl(adminToken: "secret", store: store))
        let app = Application(router: router)
        _ = try await coordinator.createSweep(yaml: StopRuleTests.yaml("{method: random, seed: 1, max_trials: 3, max_parallel: 2}"))
        @Sendable func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }
        try await app.test(.router) { client in
            let good = #"{"configs": [{"learning_rate": 0.002}, {"learning_rate": 0.002}, {"learning_rate": 0.003}]}"#
            try await client.execute(uri: "/v1/sweeps/tiny/enqueue", method: .post, headers: RouterTests.auth, body: body(good)) { r in
                #expect(r.status == .ok)
                let answer = try API.decoder().decode(API.EnqueueResponse.self, from: Data(buffer: r.body))
                #expect(answer.queued == 2 && answer.duplicates == 1)
            }
            let bad = #"{"configs": [{"learning_rate": 5, "units": 4}, {"cell": "gru"}]}"#
            try await client.execute(uri: "/v1/sweeps/tiny/enqueue", method: .post, headers: RouterTests.auth, body: body(bad)) { r in
                let text = String(buffer: r.body)
                #expect(r.status == .unprocessableContent && text.contains(#""code":"invalid_sweep""#), "\(text)")
                #expect(text.contains("configs[0].learning_rate: 5 is not in [0.0001, 0.1]") && text.contains("configs[1].cell: not a parameter"))
            }
            let tooMany = #"{"configs": [{"learning_rate": 0.004}, {"learning_rate": 0.005}]}"#
            try await client.execute(uri: "/v1/sweeps/tiny/enqueue", method: .post, headers: RouterTests.auth, body: body(tooMany)) { r in
                #expect(r.status == .conflict && String(buffer: r.body).contains("leaves room for 1 more trial(s)"))
            }
            var viewer = RouterTests.auth
            viewer[.authorization] = "Bearer nope"
            try await client.execute(uri: "/v1/sweeps/tiny/enqueue", method: .post, headers: viewer, body: body(good)) { r in
                #expect(r.status == .unauthorized)
            }
        }
        #expect(try store.enqueued(sweep: try store.sweep(named: "tiny").id!).count == 2)
        let restarted = try Coordinator(store: store, leaseSeconds: 600, datasetDirectory: RouterTests.root)
        let worker = try await restarted.register(API.RegisterRequest(host: "h", slots: 2, version: "t", engineVersion: BuildInfo.engineVersion))
        let first = try #require(try await restarted.lease(worker: worker.workerId, sweep: nil).lease)
        let second = try #require(try await restarted.lease(worker: worker.workerId, sweep: nil).lease)
        #expect(first.config["learning_rate"]?.doubleValue == 0.002 && second.config["learning_rate"]?.doubleValue == 0.003)
        #expect(try store.enqueued(sweep: try store.sweep(named: "tiny").id!).isEmpty)
    }
}

/// `search.warm_start`: TPE starts from an earlier sweep's finished trials that fit the space.
@Suite struct WarmStartTests {
    static func yaml(name: String, space: String, warm: String? = nil) -> String {
        """
        name: \(name)
        task: {dataset: datasets/greensboro-tmy3.csv, target: temp_c, features: [temp_c, rh_pct], sequence_length: 24, horizon: 6}
        search: {method: tpe, seed: 1, max_trials: 20, max_parallel: 1, n_startup: 3\(warm.map { ", warm_start: {sweep: \($0)}" } ?? "")}
        space:
        \(space)
        training: {epochs: 2}
        """
    }

    @Test func tpeStartsFromTheEarlierSweepsFittingTrials() async throws {
        let store = try SweepStore()
        let coordinator = try Coordinator(store: store, leaseSeconds: 600, datasetDirectory: RouterTests.root)
        _ = try await coordinator.createSweep(
            yaml: Self.yaml(name: "first", space: "  units: {choice: [4, 8, 16]}\n  learning_rate: {float: [0.0001, 0.1], log: true}")
        )
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        // Five trials: units 16 wins.
        for _ in 0..<5 {
            let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: "first").lease)
            let val = lease.config["units"] == .int(16) ? 1.0 : 3.0
            _ = try await coordinator.complete(
                token: lease.token,
                API.CompleteRequest(valMae: val, valLoss: val, testMae: val, bestEpoch: 1, epochsRun: 2)
            )
        }
        let firstConfigs = try store.trials(sweep: try store.sweep(named: "first").id!).map { try TrialConfig.decode(json: $0.configJson) }
        let fitting = firstConfigs.filter { $0["units"] != .int(4) }.count
        // The new space drops units 4: those trials are skipped.
        _ = try await coordinator.createSweep(
            yaml: Self.yaml(name: "second", space: "  units: {choice: [8, 16]}\n  learning_rate: {float: [0.0001, 0.1], log: true}", warm: "first")
        )
        let event = try #require(try store.events(sweep: try store.sweep(named: "second").id!).first { $0.kind == "warm_started" })
        #expect(event.detailJson.contains(#""used":\#(fitting)"#) && event.detailJson.contains(#""skipped":\#(5 - fitting)"#), "\(event.detailJson)")
        // n_startup 3 is already met by the warm start: the first trial comes from the model, not the random sampler.
        let first = try #require(try await coordinator.lease(worker: worker.workerId, sweep: "second").lease)
        let random = try SweepSpec.parse(
            yaml: Self.yaml(name: "second", space: "  units: {choice: [8, 16]}\n  learning_rate: {float: [0.0001, 0.1], log: true}")
        ).makeSampler().suggest(number: 0) { _ in false }
        #expect(first.config != random, "the warm-started TPE drew what a cold start draws")

        await #expect(throws: SweepSpecError.self) {
            _ = try await coordinator.createSweep(yaml: Self.yaml(name: "third", space: "  units: {choice: [8, 16]}", warm: "nowhere"))
        }
        #expect(throws: SweepSpecError.self) {
            _ = try SweepSpec.parse(
                yaml: Self.yaml(name: "x", space: "  units: 8", warm: "first").replacingOccurrences(of: "method: tpe", with: "method: random")
            )
        }
    }
}
