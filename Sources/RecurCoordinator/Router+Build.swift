import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
import RecurAPI
import RecurStore
import RecurSweep

/// Builds the coordinator's router: the `/v1` operations generated from docs/openapi.yaml, plus
/// the dashboard pages and `/metrics`. TCP listeners pass `token` (every request needs
/// `Authorization: Bearer <token>` or the sign-in cookie); Unix-socket listeners pass nil and rely
/// on file permissions. `maximumCheckpointBytes` caps a completion's body, checkpoint included.
public func buildRouter(
    coordinator: Coordinator,
    metrics: HTTPMetrics,
    token: String?,
    maximumCheckpointBytes: Int = API.maximumCheckpointBytes
) throws -> Router<BasicRequestContext> {
    let router = Router()
    router.middlewares.add(MetricsMiddleware(metrics: metrics))
    router.middlewares.add(MethodNotAllowedMiddleware())
    if let token { router.middlewares.add(BearerAuthMiddleware(token: token)) }
    router.middlewares.add(BodyLimitMiddleware(checkpointLimit: maximumCheckpointBytes))
    try CoordinatorAPI(coordinator: coordinator, checkpointLimit: maximumCheckpointBytes).registerHandlers(
        on: router,
        configuration: .init(jsonEncodingOptions: [.sortedKeys]),
        middlewares: [ErrorBodyMiddleware()]
    )
    router.addRoutes(dashboardRoutes(coordinator: coordinator, token: token))
    router.get("/metrics") { _, _ in
        let text = await metrics.prometheusText(counters: coordinator.counters, store: coordinator.store)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    return router
}

/// Every documented path with its methods, read from docs/openapi.yaml's operations: a request
/// with another method on a known path gets 405 with `Allow`, not 404.
let documentedMethods: [(template: [Substring], methods: Set<HTTPRequest.Method>)] = [
    ("/v1/workers", [.post, .get]), ("/v1/lease", [.post]), ("/v1/leases/{}/heartbeat", [.post]), ("/v1/leases/{}/epochs", [.post]),
    ("/v1/leases/{}/checkpoint", [.put]), ("/v1/leases/{}/complete", [.post]), ("/v1/leases/{}/fail", [.post]), ("/v1/leases/{}/release", [.post]),
    ("/v1/sweeps", [.get, .post]), ("/v1/sweeps/validate", [.post]), ("/v1/sweeps/{}", [.get]), ("/v1/sweeps/{}/pause", [.post]),
    ("/v1/sweeps/{}/resume", [.post]), ("/v1/sweeps/{}/cancel", [.post]), ("/v1/sweeps/{}/leaderboard", [.get]), ("/v1/trials/{}", [.get]),
    ("/v1/trials/{}/checkpoint", [.get]), ("/metrics", [.get]), ("/", [.get]), ("/sweeps/{}", [.get]), ("/trials/{}", [.get]),
    ("/login", [.get, .post]),
].map { (template: $0.0.split(separator: "/"), methods: $0.1) }

/// The methods allowed on `path`, or nil for an unknown path. `/v1/sweeps/validate` is literal, so
/// it wins over `/v1/sweeps/{}`.
func allowedMethods(path: String) -> Set<HTTPRequest.Method>? {
    let parts = path.split(separator: "/")
    var found: Set<HTTPRequest.Method>?
    for (template, methods) in documentedMethods where template.count == parts.count {
        guard zip(template, parts).allSatisfy({ $0 == "{}" || $0 == $1 }) else { continue }
        if !template.contains("{}") { return methods }
        found = found.map { $0.union(methods) } ?? methods
    }
    return found
}

/// 405 with `Allow` for a documented path asked with a method it does not take (Hummingbird
/// answers 404 for any unmatched route).
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let allowed = allowedMethods(path: request.uri.path), !allowed.contains(request.method),
            !(request.method == .head && allowed.contains(.get))
        {
            var response = errorResponse(APIFailure(.methodNotAllowed, .methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path)"))
            response.headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            return response
        }
        return try await next(request, context)
    }
}

/// Hummingbird renders an ``APIFailure`` thrown by a middleware or route as its JSON error body.
extension APIFailure: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response { errorResponse(self) }
}

/// A JSON error response.
func errorResponse(_ failure: APIFailure) -> Response {
    let data = (try? API.encoder().encode(failure.body)) ?? Data()
    return Response(status: failure.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Turns every error of the generated operations into `{"error", "code"}` with its status:
/// malformed requests (the generated decoding failed) get 400, a wrong media type 415, the
/// coordinator's own errors their status and code.
struct ErrorBodyMiddleware: ServerMiddleware {
    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        metadata: ServerRequestMetadata,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        do {
            return try await next(request, body, metadata)
        } catch {
            let failure: APIFailure
            if let error = error as? ServerError {
                if error.underlyingError is APIFailure || error.operationInput != nil {
                    failure = APIFailure(error.underlyingError)
                } else {
                    switch error.httpStatus {
                    case .unsupportedMediaType:
                        failure = APIFailure(
                            .unsupportedMediaType,
                            .unsupportedMediaType,
                            "send the body as the operation's media type: application/json (application/octet-stream for a checkpoint)"
                        )
                    case .notAcceptable: failure = APIFailure(.notAcceptable, .badRequest, "this operation answers application/json")
                    default: failure = APIFailure.badRequest(Self.describe(error.underlyingError))
                    }
                }
            } else {
                failure = APIFailure(error)
            }
            let data = try API.encoder().encode(failure.body)
            return (HTTPResponse(status: failure.status, headerFields: [.contentType: "application/json"]), HTTPBody(data))
        }
    }

    /// One line naming the field at fault, in the wire's snake_case.
    static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }
            return keys.isEmpty ? "the body" : "field '\(keys.joined(separator: "."))'"
        }
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context): return "\(path(context)) has the wrong type"
        case DecodingError.valueNotFound(_, let context): return "\(path(context)) is null"
        case DecodingError.dataCorrupted(let context): return "\(path(context)) is not valid: \(context.debugDescription)"
        default: return "the request does not match the API (docs/openapi.yaml): \(String(describing: error).prefix(300))"
        }
    }
}

/// Caps JSON request bodies at 8 MiB before the generated code reads them (413 `body_too_large`).
/// Checkpoint uploads (PUT) are streamed to disk and capped as they arrive; one that declares a
/// length over `checkpointLimit` is refused before a byte is read.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let checkpointLimit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        if request.method == .put {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > checkpointLimit {
                throw APIFailure(
                    .contentTooLarge,
                    .bodyTooLarge,
                    "the checkpoint is over the coordinator's limit (\(checkpointLimit) bytes; recur serve --max-checkpoint-bytes)"
                )
            }
            return try await next(request, context)
        }
        guard request.method == .post else { return try await next(request, context) }
        var request = request
        do { _ = try await request.collectBody(upTo: API.maximumBodyBytes) } catch is NIOTooManyBytesError {
            throw APIFailure(.contentTooLarge, .bodyTooLarge, "the request body is over the coordinator's limit (\(API.maximumBodyBytes) bytes)")
        }
        return try await next(request, context)
    }
}

/// Requires `Authorization: Bearer <token>` (or the sign-in cookie), compared in constant time.
/// API calls without it get 401 JSON; dashboard pages get 401 with the sign-in form.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/login" { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let presented = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : (request.cookies["recur_token"]?.value ?? "")
        guard constantTimeEqual(presented, token) else {
            if path.hasPrefix("/v1") || path == "/metrics" {
                throw APIFailure(.unauthorized, .unauthorized, "missing or wrong bearer token; pass --token-file")
            }
            return html(Dashboard.login(next: request.uri.string), status: .unauthorized)
        }
        return try await next(request, context)
    }
}

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var difference = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<y.count { difference |= y[i] ^ (i < x.count ? x[i] : 0) }
    return difference == 0
}
