import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RecurSweep
import ServiceLifecycle

/// One webhook call (`notify:`): a sweep event as a JSON body.
public struct SweepNotification: Sendable, Encodable, Equatable {
    public var event: SweepSpec.Notify.Event
    public var sweep: String
    /// Unix seconds.
    public var time: Double
    public var state: String
    /// The trial that completed as the new best, or failed.
    public var trial: Int?
    /// The objective's name (`val_mae`, `val_loss`) and the best value so far.
    public var objective: String
    public var bestValue: Double?
    public var bestTrial: Int?
    /// Why: the stop rule that ended the sweep, or the failed trial's error.
    public var reason: String?
    public var completed: Int
    public var pruned: Int
    public var failed: Int
    /// Where it goes (not part of the body).
    public var webhook: String

    enum CodingKeys: String, CodingKey {
        case event, sweep, time, state, trial, objective, reason, completed, pruned, failed
        case bestValue = "best_value"
        case bestTrial = "best_trial"
    }
}

/// Notifications queued by the coordinator without waiting (its actor never blocks on a
/// receiver) and posted by ``WebhookService``.
public final class NotificationQueue: Sendable {
    let stream: AsyncStream<SweepNotification>
    let continuation: AsyncStream<SweepNotification>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    public func post(_ notification: SweepNotification) { continuation.yield(notification) }
}

/// Posts queued notifications, each on its own task, retried with doubling delays while the
/// receiver is down or answers other than 2xx; given up (and logged) after the last delay.
public struct WebhookService: Service {
    let queue: NotificationQueue
    let retryDelays: [Duration]
    let timeout: Duration
    let logger: Logger

    public init(
        queue: NotificationQueue,
        retryDelays: [Duration] = [1, 2, 4, 8, 16, 32, 64, 128].map { .seconds($0) },
        timeout: Duration = .seconds(10),
        logger: Logger
    ) {
        self.queue = queue
        self.retryDelays = retryDelays
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        await withTaskGroup(of: Void.self) { group in
            for await notification in queue.stream.cancelOnGracefulShutdown() {
                group.addTask { await deliver(notification, http: http) }
            }
            group.cancelAll()
        }
        try? await http.shutdown()
    }

    /// One notification, retried; true when a receiver took it.
    @discardableResult
    func deliver(_ n: SweepNotification, http: HTTPClient) async -> Bool {
        let body = (try? JSONEncoder.sortedKeys.encode(n)) ?? Data()
        let meta: Logger.Metadata = ["sweep.name": "\(n.sweep)", "event": "\(n.event.rawValue)", "webhook": "\(n.webhook)"]
        // Sweeps stored before the parser checked the port still name one: never handed to the client.
        if SweepSpec.Notify.badPort(n.webhook) != nil {
            logger.warning("webhook not called: its port is outside 1–65535", metadata: meta)
            return false
        }
        for (attempt, delay) in ([Duration.zero] + retryDelays).enumerated() {
            if delay > .zero {
                do { try await Task.sleep(for: delay) } catch { return false }
            }
            var request = HTTPClientRequest(url: n.webhook)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "recur")
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await http.execute(request, timeout: .init(timeout))
                if (200..<300).contains(response.status.code) {
                    if attempt > 0 { logger.info("notification delivered after retries", metadata: meta.merging(["tries": "\(attempt + 1)"]) { $1 }) }
                    return true
                }
                logger.warning("notification refused", metadata: meta.merging(["status": "\(response.status.code)"]) { $1 })
            } catch {
                logger.warning("notification not delivered; retrying", metadata: meta.merging(["error": "\(error)"]) { $1 })
            }
        }
        logger.error("notification given up", metadata: meta.merging(["tries": "\(retryDelays.count + 1)"]) { $1 })
        return false
    }
}

extension JSONEncoder {
    fileprivate static var sortedKeys: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

extension TimeAmount {
    fileprivate init(_ duration: Duration) {
        self = .nanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + Int64(duration.components.attoseconds / 1_000_000_000))
    }
}
