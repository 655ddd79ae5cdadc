import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOSSL
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime
import RecurAPI
import RecurSweep

/// The address of a coordinator: `https://HOST:PORT` (TLS), `tcp://HOST:PORT` (plain HTTP; also
/// `http://`) or `unix:PATH`.
public struct CoordinatorAddress: Sendable, Equatable, CustomStringConvertible {
    public let baseURL: String
    public let isUnixSocket: Bool
    public let isTLS: Bool
    public let description: String

    public init?(_ text: String) {
        isTLS = text.hasPrefix("https://")
        if let scheme = ["tcp://", "http://", "https://"].first(where: { text.hasPrefix($0) }) {
            var rest = text.dropFirst(scheme.count)
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port),
                colon != rest.startIndex,
                !rest.contains("/")
            else { return nil }
            baseURL = (isTLS ? "https://" : "http://") + rest
            isUnixSocket = false
        } else if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty, path.utf8.count < unixSocketPathLimit,
                let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
            else {
                return nil
            }
            baseURL = "http+unix://\(encoded)"
            isUnixSocket = true
        } else {
            return nil
        }
        description = text
    }
}

/// Errors of one call to the coordinator.
public enum CoordinatorCallError: Error, CustomStringConvertible, Equatable {
    /// The coordinator answered with an error status and, when it sent one, a stable error code.
    case status(Int, API.ErrorCode?, String)
    /// The coordinator could not be reached (or the connection broke).
    case unreachable(String)
    /// The client cannot be set up (a CA file that is not one); retrying cannot help.
    case configuration(String)

    public var description: String {
        switch self {
        case .status(let code, _, let message): return "coordinator answered \(code): \(message)"
        case .unreachable(let message): return "coordinator unreachable: \(message)"
        case .configuration(let message): return message
        }
    }

    /// The error code the coordinator sent, if any.
    public var code: API.ErrorCode? {
        if case .status(_, let code, _) = self { return code }
        return nil
    }

    /// Worth retrying: transport failures and 5xx.
    public var isTransient: Bool {
        switch self {
        case .unreachable: return true
        case .status(let status, _, _): return status >= 500
        case .configuration: return false
        }
    }

    /// The lease is gone: expired, finished by another call, or unknown to this coordinator.
    public var isLeaseGone: Bool { code == .leaseGone || code == .unknownLease }
}

/// What a worker needs of its coordinator. ``CoordinatorClient`` speaks the generated HTTP
/// client; tests put a fake behind this protocol to drive the trial loop.
public protocol CoordinatorService: Sendable {
    var address: CoordinatorAddress { get }
    func register(_ request: API.RegisterRequest) async throws -> API.RegisterResponse
    func lease(_ request: API.LeaseRequest) async throws -> API.LeaseResponse
    func heartbeat(token: String) async throws -> API.DeadlineResponse
    func report(token: String, _ report: API.EpochReport) async throws -> API.ReportResponse
    /// Uploads the attempt's checkpoint from `file`, streamed; before ``complete(token:_:)``.
    func uploadCheckpoint(token: String, file: URL) async throws
    func complete(token: String, _ request: API.CompleteRequest) async throws -> API.TrialStateResponse
    func fail(token: String, _ request: API.FailRequest) async throws -> API.TrialStateResponse
    func release(token: String) async throws -> API.TrialStateResponse
    /// Downloads a dataset by hash into `file`, resuming from the bytes already there.
    func downloadDataset(sha256: String, to file: URL) async throws
}

/// The coordinator's `/v1` API over TCP or a Unix socket, through the client generated from
/// docs/openapi.yaml. Every non-2xx answer becomes ``CoordinatorCallError/status(_:_:_:)`` with
/// the error's stable code.
public final class CoordinatorClient: CoordinatorService {
    public let address: CoordinatorAddress
    let token: String?
    let http: HTTPClient
    let logger: Logger
    /// Calls that may take up to a minute (long-polls, uploads), and calls that should not.
    let api: Client
    let quick: Client
    /// Bulk transfers (checkpoints and datasets, both ways): the transport's deadline covers the
    /// whole body, so it is 30 minutes, not the 60 s of an API call.
    let upload: Client

    /// `caFile`: PEM certificates to trust for an `https://` coordinator instead of the system's
    /// (a private CA from `recur tls init`).
    public init(
        address: CoordinatorAddress,
        token: String?,
        caFile: String? = nil,
        logger: Logger,
        maxConnections: Int = 8,
        connectTimeoutSeconds: Int64 = 5
    ) throws {
        self.address = address
        self.token = token
        self.logger = logger
        var config = HTTPClient.Configuration()
        if address.isTLS {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile {
                do {
                    let roots = try NIOSSLCertificate.fromPEMFile(caFile)
                    guard !roots.isEmpty else { throw CoordinatorCallError.unreachable("no certificate in \(caFile)") }
                    tls.trustRoots = .certificates(roots)
                } catch {
                    throw CoordinatorCallError.configuration(
                        "--ca-file \(caFile): cannot read PEM certificates there (\(error)); pass the ca.pem of recur tls init"
                    )
                }
            }
            config.tlsConfiguration = tls
        }
        config.timeout = .init(connect: .seconds(connectTimeoutSeconds), read: .seconds(60))
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = maxConnections
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let url = URL(string: address.baseURL)!
        let middlewares: [any ClientMiddleware] = [ErrorStatusMiddleware(), BearerMiddleware(token: token)]
        api = Client(
            serverURL: url,
            transport: AsyncHTTPClientTransport(configuration: .init(client: http, timeout: .seconds(60))),
            middlewares: middlewares
        )
        quick = Client(
            serverURL: url,
            transport: AsyncHTTPClientTransport(configuration: .init(client: http, timeout: .seconds(10))),
            middlewares: middlewares
        )
        upload = Client(
            serverURL: url,
            transport: AsyncHTTPClientTransport(configuration: .init(client: http, timeout: .minutes(30))),
            middlewares: middlewares
        )
    }

    public func shutdown() async { try? await http.shutdown() }

    /// Runs one generated call, turning the runtime's wrapped errors into ``CoordinatorCallError``.
    func call<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as ClientError {
            if let inner = error.underlyingError as? CoordinatorCallError { throw inner }
            if error.response != nil {
                throw CoordinatorCallError.status(Int(error.response!.status.code), nil, "unreadable response: \(error.underlyingError)")
            }
            // A certificate the CA file does not vouch for will not get better by retrying.
            if error.underlyingError is NIOSSLError || error.underlyingError is NIOSSLExtraError {
                throw CoordinatorCallError.configuration(
                    "TLS with \(address) failed (\(error.underlyingError)); pass the coordinator's CA with --ca-file (the ca.pem of recur tls init)"
                )
            }
            // The operation's name says which call gave up (a deadline, a refused connection).
            throw CoordinatorCallError.unreachable("\(error.operationID): \(error.underlyingError)")
        } catch let error as CoordinatorCallError {
            throw error
        } catch {
            throw CoordinatorCallError.status(200, nil, "unreadable response: \(error)")
        }
    }

    // MARK: Worker protocol

    public func register(_ request: API.RegisterRequest) async throws -> API.RegisterResponse {
        try await call { try await api.registerWorker(body: .json(request)).created.body.json }
    }

    public func lease(_ request: API.LeaseRequest) async throws -> API.LeaseResponse {
        try await call { try await api.leaseTrial(body: .json(request)).ok.body.json }
    }

    public func heartbeat(token: String) async throws -> API.DeadlineResponse {
        try await call { try await quick.renewLease(path: .init(token: token)).ok.body.json }
    }

    public func report(token: String, _ report: API.EpochReport) async throws -> API.ReportResponse {
        try await call { try await api.reportEpoch(path: .init(token: token), body: .json(report)).ok.body.json }
    }

    public func uploadCheckpoint(token: String, file: URL) async throws {
        try await call {
            _ = try await upload.uploadCheckpoint(path: .init(token: token), body: .binary(try FileChunks.body(path: file.path))).noContent
        }
    }

    public func complete(token: String, _ request: API.CompleteRequest) async throws -> API.TrialStateResponse {
        try await call { try await api.completeTrial(path: .init(token: token), body: .json(request)).ok.body.json }
    }

    public func fail(token: String, _ request: API.FailRequest) async throws -> API.TrialStateResponse {
        try await call { try await api.failAttempt(path: .init(token: token), body: .json(request)).ok.body.json }
    }

    public func release(token: String) async throws -> API.TrialStateResponse {
        try await call { try await api.releaseLease(path: .init(token: token)).ok.body.json }
    }

    // MARK: Datasets

    /// Whether the coordinator holds the dataset with this hash.
    public func hasDataset(sha256: String) async throws -> Bool {
        try await call {
            switch try await quick.checkDataset(path: .init(sha256: sha256)) {
            case .ok: return true
            case .notFound: return false
            default: throw CoordinatorCallError.status(200, nil, "unexpected answer to a dataset check")
            }
        }
    }

    /// Uploads a dataset file under its hash, streamed; true when it was stored now, false when
    /// the coordinator already held it.
    @discardableResult
    public func uploadDataset(sha256: String, file: URL) async throws -> Bool {
        try await call {
            switch try await upload.uploadDataset(path: .init(sha256: sha256), body: .binary(try FileChunks.body(path: file.path))) {
            case .created: return true
            case .ok: return false
            default: throw CoordinatorCallError.status(200, nil, "unexpected answer to a dataset upload")
            }
        }
    }

    /// Downloads the dataset into `file`, streamed. When `file` already holds the first bytes (a
    /// cut download), only the rest is asked for (`Range`) and appended. Bytes that arrived are
    /// kept when the transfer breaks, which is reported as unreachable, so a retry resumes.
    public func downloadDataset(sha256: String, to file: URL) async throws {
        let have = ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.int64Value ?? 0
        try await call {
            let response = try await upload.getDataset(path: .init(sha256: sha256), headers: .init(range: have > 0 ? "bytes=\(have)-" : nil))
            let body: HTTPBody
            switch response {
            case .ok(let whole):
                // The whole file: what was there goes.
                guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                    throw CoordinatorCallError.configuration("cannot write \(file.path); check --cache-dir")
                }
                body = try whole.body.binary
            case .partialContent(let rest): body = try rest.body.binary
            default: throw CoordinatorCallError.status(200, nil, "unexpected answer to a dataset download")
            }
            do { try await body.append(to: file) } catch {
                throw CoordinatorCallError.unreachable("the download broke off: \(error)")
            }
        }
    }

    // MARK: Sweeps (the CLI)

    public func sweeps() async throws -> [API.SweepSummary] {
        try await call { try await api.listSweeps().ok.body.json }
    }

    public func sweep(named name: String) async throws -> API.SweepSummary {
        try await call { try await api.getSweep(path: .init(name: name)).ok.body.json }
    }

    /// Creates the sweep, or resumes the one of that name (`resumed` true). `datasetSHA256`: the
    /// dataset uploaded before for it; `engineVersion`: the creator's, which the sweep pins.
    public func createSweep(
        yaml: String,
        datasetSHA256: String? = nil,
        engineVersion: String? = nil
    ) async throws -> (
        summary: API.SweepSummary, resumed: Bool
    ) {
        try await call {
            switch try await api.createSweep(body: .json(.init(yaml: yaml, datasetSha256: datasetSHA256, engineVersion: engineVersion))) {
            case .created(let created): return (try created.body.json, false)
            case .ok(let resumed): return (try resumed.body.json, true)
            default: throw CoordinatorCallError.status(200, nil, "unexpected answer to create")
            }
        }
    }

    /// Queues hand-picked configurations; returns how many were queued and how many the sweep
    /// already had.
    public func enqueue(sweep name: String, configs: [TrialConfig]) async throws -> API.EnqueueResponse {
        try await call { try await api.enqueueConfigs(path: .init(name: name), body: .json(.init(configs: configs))).ok.body.json }
    }

    /// The sweep after the change; `action` is pause, resume or cancel.
    public func control(sweep name: String, _ action: SweepAction) async throws -> API.SweepSummary {
        try await call {
            switch action {
            case .pause: return try await api.pauseSweep(path: .init(name: name)).ok.body.json
            case .resume: return try await api.resumeSweep(path: .init(name: name)).ok.body.json
            case .cancel: return try await api.cancelSweep(path: .init(name: name)).ok.body.json
            }
        }
    }

    public func leaderboard(sweep name: String, top: Int?) async throws -> [API.LeaderboardRow] {
        try await call { try await api.getLeaderboard(path: .init(name: name), query: .init(top: top)).ok.body.json }
    }

    public func trial(id: Int64) async throws -> API.TrialDetail {
        try await call { try await api.getTrial(path: .init(id: id)).ok.body.json }
    }

    public func workers() async throws -> [API.WorkerInfo] {
        try await call { try await api.listWorkers().ok.body.json }
    }

    /// Streams the trial's checkpoint into `file`, chunk by chunk; returns its size.
    @discardableResult
    public func downloadCheckpoint(trial id: Int64, to file: URL) async throws -> Int64 {
        try await call {
            // A checkpoint of hundreds of MB on a loaded machine or a slow link outlasts 60 s.
            let body = try await upload.getCheckpoint(path: .init(id: id)).ok.body.binary
            return try await body.write(to: file)
        }
    }

    /// A dashboard page (HTML), which the generated client does not cover.
    public func page(_ path: String) async throws -> Data {
        var request = HTTPClientRequest(url: address.baseURL + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(60))
            bytes = try await response.body.collect(upTo: 256 * 1024 * 1024)
        } catch {
            throw CoordinatorCallError.unreachable("\(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            throw CoordinatorCallError.status(Int(response.status.code), nil, String(buffer: bytes).prefix(300).description)
        }
        return Data(bytes.readableBytesView)
    }
}

/// What `recur sweep pause|resume|cancel` asks for.
public enum SweepAction: String, Sendable, CaseIterable {
    case pause, resume, cancel
}

/// Throws ``CoordinatorCallError/status(_:_:_:)`` for every non-2xx answer, with the error body's
/// code, before the generated code looks at it.
struct ErrorStatusMiddleware: ClientMiddleware {
    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.kind != .successful else { return (response, responseBody) }
        // A HEAD answer has no body: its status is the answer (`checkDataset`'s 404 means "not held").
        if request.method == .head && response.status == .notFound { return (response, responseBody) }
        var bytes = Data()
        if let responseBody { bytes = (try? await Data(collecting: responseBody, upTo: 1 << 20)) ?? Data() }
        let decoded = try? JSONDecoder().decode(API.ErrorBody.self, from: bytes)
        let text = String(decoding: bytes.prefix(300), as: UTF8.self)
        throw CoordinatorCallError.status(
            Int(response.status.code),
            decoded?.code,
            decoded?.error ?? (text.isEmpty ? "HTTP \(response.status.code) \(response.status.reasonPhrase) from \(operationID)" : text)
        )
    }
}

/// Adds `Authorization: Bearer <token>` (TCP listeners require it).
struct BearerMiddleware: ClientMiddleware {
    let token: String?

    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if let token { request.headerFields[.authorization] = "Bearer \(token)" }
        return try await next(request, body, baseURL)
    }
}

/// Retries transient failures (unreachable, 5xx) with capped exponential backoff and jitter,
/// at most `tries` times in all, for at most `seconds` after the first failure, until `giveUp`
/// returns true (checked between tries).
public func retrying<T>(
    logger: Logger,
    _ what: String,
    tries: Int = .max,
    seconds: Double? = nil,
    giveUp: @Sendable () -> Bool = { false },
    _ body: () async throws -> T
) async throws -> T {
    var delay = 0.1
    var tried = 0
    var firstFailure: ContinuousClock.Instant?
    while true {
        do { return try await body() } catch let error as CoordinatorCallError where error.isTransient {
            tried += 1
            let failedAt = firstFailure ?? .now
            firstFailure = failedAt
            let outOfTime = seconds.map { ContinuousClock.now - failedAt >= .seconds($0) } ?? false
            if tried >= tries || outOfTime || giveUp() || Task.isCancelled { throw error }
            logger.warning(
                "coordinator call failed; retrying",
                metadata: ["call": "\(what)", "error": "\(error)", "retry_in_s": "\(String(format: "%.2f", delay))"]
            )
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000 * Double.random(in: 0.5...1.5))))
            delay = min(delay * 2, 5)
        }
    }
}
