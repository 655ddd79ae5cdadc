import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import RecurAPI
import RecurCoordinator
import RecurEngine
import RecurSweep

/// Latencies (seconds) and outcomes of one or more load-generator clients.
struct LoadStats: Sendable {
    var lease: [Double] = [], report: [Double] = [], complete: [Double] = []
    var completed = 0, errors = 0
    var firstError: String?

    mutating func merge(_ other: LoadStats) {
        lease += other.lease
        report += other.report
        complete += other.complete
        completed += other.completed
        errors += other.errors
        firstError = firstError ?? other.firstError
    }
}

/// One client of the coordinator load generator: a keep-alive HTTP/1.1 connection that runs
/// register, then lease → `epochs` reports → complete until the sweep is done, entirely on its
/// event loop (like a `wrk` connection: no task hops), so the generator's own cost stays small
/// beside the server's. Request and response bodies are real JSON, encoded and decoded.
enum LoadClient {
    static func run(listener: Listener, token: String?, epochs: Int) async throws -> LoadStats {
        let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: LoadStats.self)
        let host = "\(listener)"
        let initializer: @Sendable (Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(LifecycleHandler(host: host, token: token, epochs: epochs, done: promise))
            }
        }
        let bootstrap = ClientBootstrap(group: promise.futureResult.eventLoop).channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer(initializer)
        let channel: Channel
        switch listener {
        case .tcp(let host, let port): channel = try await bootstrap.connect(host: host, port: port).get()
        case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
        }
        let stats = try await promise.futureResult.get()
        try? await channel.close()
        return stats
    }
}

/// The lifecycle state machine of one load-generator connection.
private final class LifecycleHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private enum Step {
        case register, lease
        case report(Int)
        case complete
    }

    private let host: String
    private let authorization: String?
    private let epochs: Int
    private let done: EventLoopPromise<LoadStats>
    private let encoder = API.encoder()
    private let decoder = API.decoder()
    private var stats = LoadStats()
    private var step = Step.register
    private var workerId = ""
    private var token = ""
    private var sentAt = NIODeadline.now()
    private var status = 0
    private var body = ByteBuffer()
    private var finished = false

    init(host: String, token: String?, epochs: Int, done: EventLoopPromise<LoadStats>) {
        self.host = host
        self.authorization = token.map { "Bearer \($0)" }
        self.epochs = epochs
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context, "/v1/workers", API.RegisterRequest(host: "bench", slots: 1, version: "bench", engineVersion: BuildInfo.engineVersion))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            do { try advance(context) } catch { finish(context, error: "\(error)") }
        }
    }

    private func advance(_ context: ChannelHandlerContext) throws {
        let seconds = Double((NIODeadline.now() - sentAt).nanoseconds) * 1e-9
        guard (200..<300).contains(status) else {
            throw CLIError("HTTP \(status): \(String(buffer: body).prefix(200))")
        }
        switch step {
        case .register:
            workerId = try decoder.decode(API.RegisterResponse.self, from: body).workerId
            lease(context)
        case .lease:
            stats.lease.append(seconds)
            let response = try decoder.decode(API.LeaseResponse.self, from: body)
            if response.status == .done { return finish(context, error: nil) }
            guard let lease = response.lease else { return self.lease(context) }
            token = lease.token
            report(context, epoch: 1)
        case .report(let epoch):
            stats.report.append(seconds)
            let response = try decoder.decode(API.ReportResponse.self, from: body)
            guard response.action == ._continue else { throw CLIError("report of epoch \(epoch): \(response.action.rawValue)") }
            if epoch < epochs { return report(context, epoch: epoch + 1) }
            step = .complete
            let e = Double(epochs)
            send(
                context,
                "/v1/leases/\(token)/complete",
                API.CompleteRequest(valMae: 2.0 / e, valLoss: 1.0 / e, testMae: 2.5 / e, bestEpoch: epochs, epochsRun: epochs)
            )
        case .complete:
            stats.complete.append(seconds)
            _ = try decoder.decode(API.TrialStateResponse.self, from: body)
            stats.completed += 1
            lease(context)
        }
    }

    private func lease(_ context: ChannelHandlerContext) {
        step = .lease
        send(context, "/v1/lease", API.LeaseRequest(workerId: workerId, sweep: nil, waitSeconds: 1))
    }

    private func report(_ context: ChannelHandlerContext, epoch: Int) {
        step = .report(epoch)
        let e = Double(epoch)
        send(
            context,
            "/v1/leases/\(token)/epochs",
            API.EpochReport(epoch: epoch, trainLoss: 1.0 / e, valLoss: 1.0 / e, valMae: 2.0 / e, seconds: 0.01)
        )
    }

    private func send(_ context: ChannelHandlerContext, _ path: String, _ value: some Encodable) {
        let payload: Data
        do { payload = try encoder.encode(value) } catch { return finish(context, error: "\(error)") }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(payload.count))
        if let authorization { head.headers.add(name: "Authorization", value: authorization) }
        sentAt = .now()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: payload)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func finish(_ context: ChannelHandlerContext, error: String?) {
        guard !finished else { return }
        finished = true
        if let error {
            stats.errors += 1
            stats.firstError = error
        }
        done.succeed(stats)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(context, error: "\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, error: "the coordinator closed the connection")
    }
}
