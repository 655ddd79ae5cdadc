import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RecurSweep

/// The address of a coordinator: `tcp://HOST:PORT` or `unix:PATH`.
public struct CoordinatorAddress: Sendable, Equatable, CustomStringConvertible {
    public let baseURL: String
    public let isUnixSocket: Bool
    public let description: String

    public init?(_ text: String) {
        if text.hasPrefix("tcp://") {
            let rest = text.dropFirst(6)
            guard let colon = rest.lastIndex(of: ":"), Int(rest[rest.index(after: colon)...]) != nil, colon != rest.startIndex else { return nil }
            baseURL = "http://\(rest)"
            isUnixSocket = false
        } else if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty, let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) else { return nil }
            baseURL = "http+unix://\(encoded)"
            isUnixSocket = true
        } else {
            return nil
        }
        description = text
    }
}

/// Errors of one call to the coordinator.
public enum CoordinatorCallError: Error, CustomStringConvertible {
    /// The coordinator answered with an error status.
    case status(Int, String)
    /// The coordinator could not be reached (or the connection broke).
    case unreachable(String)

    public var description: String {
        switch self {
        case .status(let code, let message): return "coordinator answered \(code): \(message)"
        case .unreachable(let message): return "coordinator unreachable: \(message)"
        }
    }

    /// Worth retrying: transport failures and 5xx.
    public var isTransient: Bool {
        switch self {
        case .unreachable: return true
        case .status(let code, _): return code >= 500
        }
    }

    public var isLeaseGone: Bool {
        if case .status(let code, _) = self { return code == 409 || code == 404 }
        return false
    }
}

/// A JSON client for the coordinator's `/v1` API over TCP or a Unix socket.
public final class CoordinatorClient: Sendable {
    public let address: CoordinatorAddress
    let token: String?
    let http: HTTPClient
    let logger: Logger

    public init(address: CoordinatorAddress, token: String?, logger: Logger, maxConnections: Int = 8, connectTimeoutSeconds: Int64 = 5) {
        self.address = address
        self.token = token
        self.logger = logger
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(connectTimeoutSeconds), read: .seconds(60))
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = maxConnections
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func shutdown() async { try? await http.shutdown() }

    /// One call; non-2xx answers throw ``CoordinatorCallError/status(_:_:)``.
    public func call<Response: Decodable>(_ method: HTTPMethod, _ path: String, body: (some Encodable)?, as: Response.Type, timeout: TimeAmount = .seconds(60)) async throws -> Response {
        let data = try await callRaw(method, path, body: try body.map { try API.encoder().encode($0) }, timeout: timeout)
        do { return try API.decoder().decode(Response.self, from: data) } catch {
            throw CoordinatorCallError.status(200, "unreadable response: \(error)")
        }
    }

    /// One call returning the raw body (checkpoints); `body` is sent as JSON.
    public func callRaw(_ method: HTTPMethod, _ path: String, body: Data? = nil, timeout: TimeAmount = .seconds(60)) async throws -> Data {
        var request = HTTPClientRequest(url: address.baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            bytes = try await response.body.collect(upTo: 256 * 1024 * 1024)
        } catch {
            throw CoordinatorCallError.unreachable("\(error)")
        }
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            let message = (try? API.decoder().decode(API.ErrorBody.self, from: data).error) ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw CoordinatorCallError.status(Int(response.status.code), message)
        }
        return data
    }

    /// Retries transient failures with capped exponential backoff and jitter until `giveUp`
    /// returns true (checked between tries).
    public func retrying<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: (some Encodable)?, as type: Response.Type, timeout: TimeAmount = .seconds(60),
        giveUp: @Sendable () -> Bool = { false }
    ) async throws -> Response {
        var delay = 0.1
        while true {
            do { return try await call(method, path, body: body, as: type, timeout: timeout) } catch let error as CoordinatorCallError where error.isTransient {
                if giveUp() || Task.isCancelled { throw error }
                logger.warning("coordinator call failed; retrying", metadata: ["path": "\(path)", "error": "\(error)", "retry_in_s": "\(String(format: "%.2f", delay))"])
                try? await Task.sleep(for: .milliseconds(Int(delay * 1000 * Double.random(in: 0.5...1.5))))
                delay = min(delay * 2, 5)
            }
        }
    }
}

/// An empty JSON body.
public struct Empty: Codable, Sendable { public init() {} }
