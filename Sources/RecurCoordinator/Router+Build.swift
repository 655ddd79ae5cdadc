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
/// the dashboard pages and `/metrics`. TCP listeners pass `access` (every request needs a token
/// whose role allows it, or the dashboard's session cookie); Unix-socket listeners pass nil and
/// rely on file permissions. `tls`: the listener serves HTTPS. `maximumCheckpointBytes` caps a checkpoint upload,
/// `maximumDatasetBytes` a dataset upload.
public func buildRouter(
    coordinator: Coordinator,
    metrics: HTTPMetrics,
    access: AccessControl?,
    tls: Bool = false,
    maximumCheckpointBytes: Int = API.maximumCheckpointBytes,
    maximumDatasetBytes: Int64 = API.maximumDatasetBytes
) throws -> Router<BasicRequestContext> {
    // HEAD on every GET route answers as GET without the body (404 before).
    let router = Router(options: .autoGenerateHeadEndpoints)
    router.middlewares.add(MetricsMiddleware(metrics: metrics))
    router.middlewares.add(MethodNotAllowedMiddleware())
    if let access { router.middlewares.add(AuthMiddleware(access: access)) }
    router.middlewares.add(BodyLimitMiddleware(checkpointLimit: maximumCheckpointBytes, datasetLimit: maximumDatasetBytes))
    try CoordinatorAPI(coordinator: coordinator, checkpointLimit: maximumCheckpointBytes, datasetLimit: maximumDatasetBytes).registerHandlers(
        on: router,
        configuration: .init(jsonEncodingOptions: [.sortedKeys]),
        middlewares: [ErrorBodyMiddleware(), ContentRangeMiddleware()]
    )
    router.addRoutes(dashboardRoutes(coordinator: coordinator, access: access, secure: tls))
    router.get("/metrics") { _, _ in
        let text = await metrics.prometheusText(counters: coordinator.counters, store: coordinator.store)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    return router
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
                    default:
                        let hasBody = [.post, .put, .patch].contains(request.method)
                        failure = APIFailure.badRequest(
                            (hasBody ? nil : Self.parameterAtFault(path: metadata.pathParameters, target: request.path ?? ""))
                                ?? Self.describe(error.underlyingError, hasBody: hasBody, path: request.path ?? "")
                        )
                    }
                }
            } else {
                failure = APIFailure(error)
            }
            let data = try API.encoder().encode(failure.body)
            return (HTTPResponse(status: failure.status, headerFields: [.contentType: "application/json"]), HTTPBody(data))
        }
    }

    /// The generated operations' integer parameters, the only ones whose decoding can fail (a
    /// string's pattern and length are checked by the handlers, which name them): path ones
    /// first, the order the generated code decodes them in. `RouterTests` checks this list
    /// against docs/openapi.yaml.
    static let integerParameters: [(name: String, inPath: Bool, range: ClosedRange<Int64>)] = [
        ("id", true, 1...Int64.max), ("top", false, 1...1_000_000),
    ]

    /// The decoder names no parameter when one fails, so the request's own values are read
    /// against `integerParameters`: the first that is not a whole number is the one at fault.
    static func parameterAtFault(path parameters: [String: Substring], target: String) -> String? {
        let query = target.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        let items: [(Substring, Substring)] = query.split(separator: "&").map { item in
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (pair[0], pair.count > 1 ? pair[1] : "")
        }
        for parameter in integerParameters {
            let value =
                parameter.inPath
                ? parameters[parameter.name] : items.first { String($0.0).removingPercentEncoding == parameter.name }?.1
            guard let value else { continue }
            let decoded = String(value).removingPercentEncoding ?? String(value)
            guard Int64(decoded) == nil else { continue }
            // One line: a control character (an encoded newline) is shown as "?".
            // At most 40 scalars (a character may hold any number of combining ones).
            var head = String.UnicodeScalarView()
            head.append(contentsOf: decoded.unicodeScalars.prefix(40))
            let shown = String(String(head).map { $0.isNewline || ($0.asciiValue ?? 32) < 32 ? "?" : $0 })
            let range = "from \(parameter.range.lowerBound) to \(parameter.range.upperBound)"
            return "\(parameter.inPath ? "path" : "query") parameter '\(parameter.name)' must be a whole number \(range), got '\(shown)'"
        }
        return nil
    }

    /// One line naming the field at fault, in the wire's snake_case (`configs[0].units`). A
    /// request without a body failed on its path or query, which the decoder does not name.
    static func describe(_ error: any Error, hasBody: Bool = true, path requestPath: String = "") -> String {
        func path(_ context: DecodingError.Context) -> String {
            var name = ""
            for key in context.codingPath where !key.stringValue.isEmpty {
                if let i = key.intValue { name += "[\(i)]" } else { name += name.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            if !name.isEmpty { return "field '\(name)'" }
            return hasBody ? "the body" : "a path or query parameter of \(requestPath.prefix(200))"
        }
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context): return "\(path(context)) has the wrong type (see docs/openapi.yaml)"
        case DecodingError.valueNotFound(_, let context): return "\(path(context)) is null"
        case DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty && hasBody:
            // Foundation's decoder reports a fraction or an out-of-range number in an integer field so too.
            return "the body is not valid JSON, or one of its numbers does not fit its field (a fraction or an out-of-range value for an integer)"
        case DecodingError.dataCorrupted(let context): return "\(path(context)) is not valid: \(context.debugDescription)"
        default: return "the request does not match the API (docs/openapi.yaml): \(String(describing: error).prefix(300))"
        }
    }
}

/// Caps JSON request bodies at 8 MiB before the generated code reads them (413 `body_too_large`).
/// Checkpoint and dataset uploads (PUT) are streamed to disk and capped as they arrive; one that
/// declares a length over its limit is refused before a byte is read.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let checkpointLimit: Int
    let datasetLimit: Int64

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        // Checked on the raw header: the generated code sees it percent-decoded.
        if let range = request.headers[.range], range.utf8.count > 100 { throw APIFailure.badRequest("Range: must be at most 100 characters") }
        if request.method == .put && request.uri.path.hasPrefix("/v1/datasets/") {
            if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length > datasetLimit {
                throw APIFailure(
                    .contentTooLarge,
                    .bodyTooLarge,
                    "the dataset is over the coordinator's limit (\(datasetLimit) bytes; recur serve --max-dataset-bytes)"
                )
            }
            return try await next(request, context)
        }
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
