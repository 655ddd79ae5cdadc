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
