import Foundation
import Hummingbird
import Logging
import RecurStore
import RecurSweep
import ServiceLifecycle

/// Where the coordinator listens.
public enum Listener: Equatable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses `tcp://HOST:PORT` or `unix:PATH`.
    public init?(_ text: String) {
        if text.hasPrefix("tcp://") {
            let rest = text.dropFirst(6)
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (0...65535).contains(port) else { return nil }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "tcp://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// Expires leases whose deadline passed, every `interval`.
struct LeaseReaper: Service {
    let coordinator: Coordinator
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { try await coordinator.reap() } catch { logger.error("lease reaper failed", metadata: ["error": "\(error)"]) }
            try? await Task.sleep(for: interval)
        }
    }
}

/// The coordinator's services: one HTTP application per listener (TCP ones require the token)
/// and the lease reaper, run in one ServiceGroup that shuts down gracefully on SIGINT/SIGTERM.
public func makeCoordinatorServices(
    coordinator: Coordinator, listeners: [Listener], token: String, reapInterval: Duration = .milliseconds(500),
    maximumCompleteBytes: Int = API.maximumCompleteBodyBytes, logger: Logger, onListening: @escaping @Sendable (Listener) -> Void
) -> [any Service] {
    let metrics = HTTPMetrics()
    var services: [any Service] = []
    for listener in listeners {
        let router: Router<BasicRequestContext>
        let address: BindAddress
        switch listener {
        case .tcp(let host, let port):
            router = buildRouter(coordinator: coordinator, metrics: metrics, token: token, maximumCompleteBytes: maximumCompleteBytes)
            address = .hostname(host, port: port)
        case .unix(let path):
            try? FileManager.default.removeItem(atPath: path)
            router = buildRouter(coordinator: coordinator, metrics: metrics, token: nil, maximumCompleteBytes: maximumCompleteBytes)
            address = .unixDomainSocket(path: path)
        }
        let app = Application(
            router: router, configuration: .init(address: address, serverName: "recur"),
            onServerRunning: { channel in
                switch listener {
                case .tcp(let host, _): onListening(.tcp(host: host, port: channel.localAddress?.port ?? 0))
                case .unix(let path):
                    chmod(path, 0o600)
                    onListening(.unix(path: path))
                }
            }, logger: logger)
        services.append(app)
    }
    services.append(LeaseReaper(coordinator: coordinator, interval: reapInterval, logger: logger))
    return services
}
