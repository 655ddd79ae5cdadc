import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import RecurAPI
import RecurEngine
import RecurStore
import RecurSweep
import ServiceLifecycle
import Synchronization
import Testing

@testable import RecurCoordinator

#if canImport(Glibc)
import Glibc
#endif

/// Webhook notifications against a real local receiver: what is posted, retries while the
/// receiver is down, and a coordinator that never waits for it.
@Suite(.serialized) struct NotifyTests {
    /// An HTTP receiver on 127.0.0.1: collects JSON bodies; the first `refuse` requests get 503.
    final class Receiver: Sendable {
        /// What the receiver saw, shared with its route.
        final class Log: Sendable {
            let bodies = Mutex<[Data]>([])
            let refused = Mutex(0)
        }
        let log = Log()
        let port: Int
        let task: Task<Void, Error>

        init(port: Int = 0, refuse: Int = 0) async throws {
            let (ready, continuation) = AsyncStream<Int>.makeStream()
            let log = self.log
            let router = Router()
            router.post("/hook") { request, _ -> HTTPResponse.Status in
                let refusing = log.refused.withLock { n -> Bool in
                    n += 1
                    return n <= refuse
                }
                if refusing { return .serviceUnavailable }
                let buffer = try await request.body.collect(upTo: 1 << 20)
                log.bodies.withLock { $0.append(Data(buffer: buffer)) }
                return .noContent
            }
            let app = Application(
                router: router,
                configuration: .init(address: .hostname("127.0.0.1", port: port)),
                onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) },
                logger: Logger(label: "receiver")
            )
            task = Task { try await app.runService() }
            var iterator = ready.makeAsyncIterator()
            self.port = await iterator.next() ?? 0
        }

        var url: String { "http://127.0.0.1:\(port)/hook" }
        var received: [[String: Any]] {
            log.bodies.withLock { $0 }.map { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] ?? [:] }
        }
        func stop() { task.cancel() }

        func waitFor(_ count: Int) async throws {
            for _ in 0..<200 where received.count < count { try await Task.sleep(for: .milliseconds(50)) }
        }
    }

    /// A port that was free a moment ago and has nothing listening.
    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func notification(_ event: SweepSpec.Notify.Event, to url: String) -> SweepNotification {
        SweepNotification(
            event: event,
            sweep: "s",
            time: 1,
            state: "running",
            trial: 3,
            objective: "val_mae",
            bestValue: 1.5,
            bestTrial: 3,
            reason: nil,
            completed: 4,
            pruned: 1,
            failed: 0,
            webhook: url
        )
    }

    @Test func aNotificationIsPostedAsJSON() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        let service = WebhookService(queue: NotificationQueue(), retryDelays: [], logger: Logger(label: "t"))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let ok = await service.deliver(Self.notification(.newBest, to: receiver.url), http: http)
        try await http.shutdown()
        #expect(ok)
        let body = try #require(receiver.received.first)
        #expect(body["event"] as? String == "new_best" && body["sweep"] as? String == "s" && body["trial"] as? Int == 3)
        #expect(body["best_value"] as? Double == 1.5 && body["completed"] as? Int == 4 && body["webhook"] == nil)
    }

    /// A receiver that answers 503 twice, then takes it: delivered on the third try. One that
    /// never listens: given up after the last retry, without throwing.
    @Test func aReceiverThatIsDownGetsItOnARetry() async throws {
        let receiver = try await Receiver(refuse: 2)
        defer { receiver.stop() }
        let service = WebhookService(
            queue: NotificationQueue(),
            retryDelays: [.milliseconds(50), .milliseconds(100)],
            timeout: .seconds(1),
            logger: Logger(label: "t")
        )
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        #expect(await service.deliver(Self.notification(.done, to: receiver.url), http: http))
        #expect(receiver.log.refused.withLock { $0 } == 3 && receiver.received.count == 1)

        // Nothing listens on a port just released.
        let url = "http://127.0.0.1:\(Self.closedPort())/hook"
        #expect(await !service.deliver(Self.notification(.done, to: url), http: http))
        try await http.shutdown()
    }

    /// The coordinator queues `new_best` for each new best, `failed` for a trial failed for good
    /// and `done` when the sweep ends; the service posts them while the coordinator goes on.
    @Test func aSweepNotifiesNewBestFailedAndDone() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        let coordinator = try Coordinator(store: SweepStore(), leaseSeconds: 600, datasetDirectory: RouterTests.root)
        let service = WebhookService(queue: coordinator.notifications, retryDelays: [.milliseconds(50)], logger: Logger(label: "t"))
        let posting = Task { try await service.run() }
        defer { posting.cancel() }
        let yaml =
            StopRuleTests.yaml("{method: random, seed: 1, max_trials: 4, max_parallel: 1}")
            + "\nretries: {max_attempts: 1}\nnotify: {webhook: \"\(receiver.url)\", on: [done, failed, new_best]}\n"
        _ = try await coordinator.createSweep(yaml: yaml)
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        for val in [3.0, 2.0, 2.5] {
            let lease = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
            _ = try await coordinator.complete(
                token: lease.token,
                API.CompleteRequest(valMae: val, valLoss: val, testMae: val, bestEpoch: 1, epochsRun: 2)
            )
        }
        let last = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        _ = try await coordinator.fail(token: last.token, API.FailRequest(error: "out of memory", retryable: false))
        // The sampler finds it has nothing left at the first call; the next says done.
        var end = try await coordinator.lease(worker: worker.workerId, sweep: nil)
        if end.status == .noWork { end = try await coordinator.lease(worker: worker.workerId, sweep: nil) }
        #expect(end.status == .done)
        try await receiver.waitFor(4)
        let events = receiver.received.map { "\($0["event"] as? String ?? "?") \($0["trial"] as? Int ?? -1)" }
        #expect(Set(events) == ["new_best 0", "new_best 1", "failed 3", "done -1"], "\(events)")
        let failed = try #require(receiver.received.first { $0["event"] as? String == "failed" })
        #expect((failed["reason"] as? String)?.contains("out of memory") == true)
        let done = try #require(receiver.received.first { $0["event"] as? String == "done" })
        #expect(done["best_trial"] as? Int == 1 && done["state"] as? String == "done" && done["failed"] as? Int == 1)
    }

    @Test func notifyParsesAndNamesItsFields() throws {
        let spec = try SweepSpec.parse(
            yaml: "name: n\ntask: {dataset: d.csv, target: y}\nspace: {units: 8}\nnotify: {webhook: \"https://h.example/x\", on: [new_best]}\n"
        )
        #expect(spec.notify == SweepSpec.Notify(webhook: "https://h.example/x", on: [.newBest]))
        let again = try SweepDefinition.decode(json: SweepDefinition(spec: spec, datasetSHA256: nil, features: nil).jsonString())
        #expect(again.spec.notify == spec.notify)
        let defaults = try SweepSpec.parse(yaml: "name: n\ntask: {dataset: d.csv, target: y}\nspace: {units: 8}\nnotify: {webhook: \"http://h/x\"}\n")
        #expect(defaults.notify?.on == [.done, .failed])
        for (notify, message) in [
            ("{on: [done]}", "notify.webhook: missing"),
            ("{webhook: \"ftp://h/x\"}", "notify.webhook: 'ftp://h/x' is not an http:// or https:// URL"),
            // The HTTP client traps on such a port: it once stopped the coordinator at the sweep's end.
            ("{webhook: \"http://127.0.0.1:99999/hook\"}", "notify.webhook: port 99999 in 'http://127.0.0.1:99999/hook' must be from 1 to 65535"),
            ("{webhook: \"http://h/x\", on: [finished]}", "notify.on[0]: 'finished' must be done, failed or new_best"),
            ("{webhook: \"http://h/x\", when: [done]}", "notify.when: unknown key; allowed: webhook, on"),
        ] {
            do {
                _ = try SweepSpec.parse(yaml: "name: n\ntask: {dataset: d.csv, target: y}\nspace: {units: 8}\nnotify: \(notify)\n")
                Issue.record("\(notify) was accepted")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
        }
    }
}
