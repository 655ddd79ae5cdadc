import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import RecurAPI
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
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (0...65535).contains(port) else {
                return nil
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .tcp(host: host, port: port)
        } else if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty, path.utf8.count < unixSocketPathLimit else { return nil }
            self = .unix(path: path)
        } else {
            return nil
        }
    }

    /// Whether `host` names this machine only (127.0.0.0/8, ::1, localhost).
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
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

/// The server's certificate chain and key (`recur serve --tls-cert --tls-key`), read once at
/// start-up so a bad file is a one-line error before anything listens.
public struct TLSFiles: Sendable {
    let configuration: TLSConfiguration

    public init(certificate: String, key: String) throws {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw ListenerError(description: "--tls-cert \(certificate): cannot read a PEM certificate there (\(error)); recur tls init makes one")
        }
        guard !chain.isEmpty else { throw ListenerError(description: "--tls-cert \(certificate): no certificate in the file") }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw ListenerError(description: "--tls-key \(key): cannot read a PEM private key there (\(error)); recur tls init makes one")
        }
        if let leaf = chain.first, Double(leaf.notValidAfter) < Date().timeIntervalSince1970 {
            let date = Date(timeIntervalSince1970: Double(leaf.notValidAfter)).formatted(.iso8601)
            throw ListenerError(
                description: "--tls-cert \(certificate): expired on \(date); clients would refuse it (recur tls init makes a new one)"
            )
        }
        configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
        // Built once here so a key that is not the certificate's fails at start, by name, not as
        // a bare NIOSSL error.
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw ListenerError(
                description:
                    "--tls-key \(key) is not the private key of --tls-cert \(certificate) (\(error)); give the pair recur tls init wrote (server.pem, server-key.pem)"
            )
        }
    }
}

/// The coordinator's services: one HTTP application per listener (TCP ones require a token whose
/// role allows the call, and serve HTTPS when `tls` is given) and the lease reaper, run in one
/// ServiceGroup that shuts down gracefully on SIGINT/SIGTERM.
public func makeCoordinatorServices(
    coordinator: Coordinator,
    listeners: [Listener],
    access: AccessControl,
    tls: TLSFiles? = nil,
    reapInterval: Duration = .milliseconds(500),
    maximumCheckpointBytes: Int = API.maximumCheckpointBytes,
    maximumDatasetBytes: Int64 = API.maximumDatasetBytes,
    idleSeconds: Int = 60,
    logger: Logger,
    onListening: @escaping @Sendable (Listener) -> Void
) throws -> [any Service] {
    // A connection with no request under way is closed after this long: keep-alive clients
    // reconnect, and one that sends half a request head and stops does not hold a descriptor for
    // ever. A long-polled lease is a request under way, so it is never cut.
    let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(Int64(idleSeconds)))
    let metrics = HTTPMetrics()
    var services: [any Service] = []
    for listener in listeners {
        let router: Router<BasicRequestContext>
        let address: BindAddress
        var server = HTTPServerBuilder.http1(configuration: http1)
        switch listener {
        case .tcp(let host, let port):
            router = try buildRouter(
                coordinator: coordinator,
                metrics: metrics,
                access: access,
                tls: tls != nil,
                maximumCheckpointBytes: maximumCheckpointBytes,
                maximumDatasetBytes: maximumDatasetBytes
            )
            address = .hostname(host, port: port)
            if let tls {
                server = try .tls(.http1(configuration: http1), tlsConfiguration: tls.configuration)
            } else if !Listener.isLoopback(host) {
                logger.warning(
                    "plain HTTP on a non-loopback address: tokens and data cross the network in clear; serve TLS with --tls-cert and --tls-key (recur tls init)",
                    metadata: ["listen": "\(listener)"]
                )
            }
        case .unix(let path):
            try removeStaleSocket(at: path)
            router = try buildRouter(
                coordinator: coordinator,
                metrics: metrics,
                access: nil,
                maximumCheckpointBytes: maximumCheckpointBytes,
                maximumDatasetBytes: maximumDatasetBytes
            )
            address = .unixDomainSocket(path: path)
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: address, serverName: "recur"),
            onServerRunning: { channel in
                switch listener {
                case .tcp(let host, _): onListening(.tcp(host: host, port: channel.localAddress?.port ?? 0))
                case .unix(let path):
                    chmod(path, 0o600)
                    onListening(.unix(path: path))
                }
            },
            logger: logger
        )
        services.append(app)
    }
    services.append(LeaseReaper(coordinator: coordinator, interval: reapInterval, logger: logger))
    services.append(WebhookService(queue: coordinator.notifications, logger: logger))
    return services
}

/// A listener that cannot be set up, named with its `--listen` value and the fix.
public struct ListenerError: Error, CustomStringConvertible {
    public let description: String
}

/// Clears the way for a Unix socket at `path`: nothing there, or a socket nobody listens on (left
/// by a coordinator that died), is fine; a live socket or any other file is refused, not deleted.
func removeStaleSocket(at path: String) throws {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    guard info.st_mode & S_IFMT == S_IFSOCK else {
        throw ListenerError(description: "--listen unix:\(path): a file that is not a socket is there; move it or pick another path")
    }
    if unixSocketAcceptsConnections(path) {
        throw ListenerError(description: "--listen unix:\(path): another process is listening there (a coordinator?); stop it or pick another path")
    }
    unlink(path)
}

private func unixSocketAcceptsConnections(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
    }
}
