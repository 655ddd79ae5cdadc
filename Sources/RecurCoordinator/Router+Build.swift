import Foundation
import Hummingbird
import Logging
import NIOCore
import RecurStore
import RecurSweep

/// Request bodies are capped; larger ones get 413. Completions, which carry the checkpoint, may
/// be up to `API.maximumCompleteBodyBytes`.
public let maximumBodyBytes = 8 * 1024 * 1024

/// Builds the `/v1` router. TCP listeners pass `token` (every request needs
/// `Authorization: Bearer <token>`); Unix-socket listeners pass nil and rely on file permissions.
/// `maximumCompleteBytes` caps a completion's body, checkpoint included.
public func buildRouter(
    coordinator: Coordinator, metrics: HTTPMetrics, token: String?, maximumCompleteBytes: Int = API.maximumCompleteBodyBytes
) -> Router<BasicRequestContext> {
    let router = Router()
    router.middlewares.add(MetricsMiddleware(metrics: metrics))
    if let token { router.middlewares.add(BearerAuthMiddleware(token: token)) }

    // Workers
    router.post("/v1/workers") { request, _ in
        await respond { let body = try await decode(API.RegisterRequest.self, request)
            guard body.slots >= 1 else { throw APIError.badRequest("slots: \(body.slots) must be ≥ 1") }
            return try json(await coordinator.register(body), status: .created)
        }
    }
    router.post("/v1/lease") { request, _ in
        await respond {
            let body = try await decode(API.LeaseRequest.self, request)
            let deadline = Date().addingTimeInterval(min(max(body.waitSeconds, 0), 30))
            while true {
                let response = try await coordinator.lease(worker: body.workerId, sweep: body.sweep)
                if response.status != "no_work" || Date() >= deadline { return try json(response) }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
    router.post("/v1/leases/:token/heartbeat") { request, context in
        await respond { try json(await coordinator.heartbeat(token: context.parameters.require("token"))) }
    }
    router.post("/v1/leases/:token/epochs") { request, context in
        await respond {
            let body = try await decode(API.EpochReport.self, request)
            guard body.epoch >= 1 else { throw APIError.badRequest("epoch: \(body.epoch) must be ≥ 1") }
            return try json(await coordinator.report(token: context.parameters.require("token"), body))
        }
    }
    router.post("/v1/leases/:token/complete") { request, context in
        await respond { try json(await coordinator.complete(token: context.parameters.require("token"), try await decode(API.CompleteRequest.self, request, limit: maximumCompleteBytes))) }
    }
    router.post("/v1/leases/:token/fail") { request, context in
        await respond { try json(await coordinator.fail(token: context.parameters.require("token"), try await decode(API.FailRequest.self, request))) }
    }
    router.post("/v1/leases/:token/release") { request, context in
        await respond { try json(await coordinator.release(token: context.parameters.require("token"))) }
    }

    // Admin
    router.get("/v1/sweeps") { _, _ in await respond { try json(coordinator.summaries()) } }
    router.post("/v1/sweeps") { request, _ in
        await respond {
            let body = try await decode(API.CreateSweepRequest.self, request)
            let record = try await coordinator.createSweep(yaml: body.yaml)
            return try json(coordinator.summary(named: record.name), status: .created)
        }
    }
    router.post("/v1/sweeps/validate") { request, _ in
        await respond {
            let body = try await decode(API.CreateSweepRequest.self, request)
            do {
                _ = try SweepSpec.parse(yaml: body.yaml)
                return try json(API.ValidationResponse(ok: true, problems: []))
            } catch let error as SweepSpecError {
                return try json(API.ValidationResponse(ok: false, problems: error.problems), status: .unprocessableContent)
            }
        }
    }
    router.get("/v1/sweeps/:name") { _, context in await respond { try json(coordinator.summary(named: context.parameters.require("name"))) } }
    for (action, state) in [("pause", SweepState.paused), ("resume", .running), ("cancel", .cancelled)] {
        router.post("/v1/sweeps/:name/\(action)") { _, context in
            await respond {
                let name = try context.parameters.require("name")
                _ = try await coordinator.setState(sweep: name, to: state)
                return try json(coordinator.summary(named: name))
            }
        }
    }
    router.get("/v1/sweeps/:name/leaderboard") { request, context in
        await respond {
            let top = request.uri.queryParameters.get("top").flatMap { Int($0) }
            return try json(coordinator.leaderboard(sweep: context.parameters.require("name"), top: top))
        }
    }
    router.get("/v1/trials/:id") { _, context in
        await respond {
            guard let id = Int64(try context.parameters.require("id")) else { throw APIError.badRequest("trial id must be an integer") }
            return try json(coordinator.trialDetail(id: id))
        }
    }
    router.get("/v1/trials/:id/checkpoint") { _, context in
        await respond {
            guard let id = Int64(try context.parameters.require("id")) else { throw APIError.badRequest("trial id must be an integer") }
            let data = try coordinator.store.checkpoint(trial: id)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }
    router.get("/v1/workers") { _, _ in await respond { try json(coordinator.workerInfos()) } }
    // Dashboard (HTML, rendered on the server)
    router.get("/") { _, _ in await respondHTML { try Dashboard.index(store: coordinator.store) } }
    router.get("/sweeps/:name") { request, context in
        await respondHTML {
            let q = request.uri.queryParameters
            return try Dashboard.sweep(
                store: coordinator.store, name: context.parameters.require("name"), sort: q.get("sort") ?? "val_mae", descending: q.get("desc") == "1",
                page: q.get("page").flatMap { Int($0) } ?? 1, standalone: q.get("standalone") == "1")
        }
    }
    router.get("/trials/:id") { _, context in
        await respondHTML {
            guard let id = Int64(try context.parameters.require("id")) else { throw APIError.badRequest("trial id must be an integer") }
            return try Dashboard.trial(store: coordinator.store, id: id)
        }
    }
    // `/login?token=T&next=/sweeps/x` signs in from a link (the token never leaves the machine
    // that reads the token file); without a token it shows the form.
    router.get("/login") { request, _ in
        let q = request.uri.queryParameters
        guard let given = q.get("token"), let token, constantTimeEqual(given, token) else { return html(Dashboard.login) }
        let next = q.get("next").flatMap { $0.hasPrefix("/") && !$0.hasPrefix("//") ? $0 : nil } ?? "/"
        return Response(status: .seeOther, headers: [.location: next, .setCookie: "recur_token=\(token); Path=/; HttpOnly; SameSite=Lax"])
    }
    router.post("/login") { request, _ in
        var request = request
        let body = (try? await request.collectBody(upTo: 4096)).map { String(buffer: $0) } ?? ""
        let presented = body.split(separator: "&").first { $0.hasPrefix("token=") }.map { String($0.dropFirst(6)).removingPercentEncoding ?? "" } ?? ""
        guard let token, constantTimeEqual(presented, token) else { return html(Dashboard.login, status: token == nil ? .ok : .unauthorized) }
        return Response(status: .seeOther, headers: [.location: "/", .setCookie: "recur_token=\(token); Path=/; HttpOnly; SameSite=Lax"])
    }
    router.get("/metrics") { _, _ in
        let text = await metrics.prometheusText(counters: coordinator.counters, store: coordinator.store)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    return router
}

func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

func respondHTML(_ body: () throws -> String) async -> Response {
    do { return html(try body()) } catch let e as StoreError {
        if case .notFound(let m) = e { return html(Dashboard.page("Not found", refresh: false, "<h1>Not found</h1><p>\(SVGPlots.escape(m))</p>"), status: .notFound) }
        return html(Dashboard.page("Error", refresh: false, "<p>\(SVGPlots.escape(e.description))</p>"), status: .conflict)
    } catch {
        return html(Dashboard.page("Error", refresh: false, "<p>\(SVGPlots.escape("\(error)"))</p>"), status: .badRequest)
    }
}

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var difference = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<y.count { difference |= y[i] ^ (i < x.count ? x[i] : 0) }
    return difference == 0
}

/// Every route's paths, for the tests that check them against `buildRouter` and `docs/openapi.yaml`.
public let apiRoutes: [(method: String, path: String)] = [
    ("POST", "/v1/workers"), ("POST", "/v1/lease"), ("POST", "/v1/leases/{token}/heartbeat"), ("POST", "/v1/leases/{token}/epochs"),
    ("POST", "/v1/leases/{token}/complete"), ("POST", "/v1/leases/{token}/fail"), ("POST", "/v1/leases/{token}/release"),
    ("GET", "/v1/sweeps"), ("POST", "/v1/sweeps"), ("POST", "/v1/sweeps/validate"), ("GET", "/v1/sweeps/{name}"),
    ("POST", "/v1/sweeps/{name}/pause"), ("POST", "/v1/sweeps/{name}/resume"), ("POST", "/v1/sweeps/{name}/cancel"),
    ("GET", "/v1/sweeps/{name}/leaderboard"), ("GET", "/v1/trials/{id}"), ("GET", "/v1/trials/{id}/checkpoint"), ("GET", "/v1/workers"),
    ("GET", "/metrics"), ("GET", "/"), ("GET", "/sweeps/{name}"), ("GET", "/trials/{id}"), ("GET", "/login"), ("POST", "/login"),
]

// MARK: - Helpers

func decode<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int = maximumBodyBytes) async throws -> T {
    var request = request
    let buffer = try await request.collectBody(upTo: limit)
    let data = Data(buffer.readableBytesView)
    do { return try API.decoder().decode(T.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
        throw APIError.badRequest("missing field '\(key.stringValue.snakeCased)'")
    } catch let DecodingError.typeMismatch(_, context) {
        throw APIError.badRequest("field '\(context.codingPath.map(\.stringValue.snakeCased).joined(separator: "."))' has the wrong type")
    } catch let DecodingError.valueNotFound(_, context) {
        throw APIError.badRequest("field '\(context.codingPath.map(\.stringValue.snakeCased).joined(separator: "."))' is null")
    } catch {
        throw APIError.badRequest("the body is not valid JSON for this request")
    }
}

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try API.encoder().encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Runs a handler and maps errors to statuses with a JSON `{"error": …}` body.
func respond(_ body: () async throws -> Response) async -> Response {
    func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        (try? json(API.ErrorBody(error: message), status: status)) ?? Response(status: status)
    }
    do {
        return try await body()
    } catch let e as APIError {
        return failure(.badRequest, e.description)
    } catch let e as StoreError {
        switch e {
        case .notFound(let m): return failure(.notFound, m)
        case .staleLease(let m), .conflict(let m), .duplicate(let m): return failure(.conflict, m)
        case .newerDatabase, .olderDatabase: return failure(.internalServerError, e.description)
        }
    } catch let e as SweepSpecError {
        return failure(.unprocessableContent, e.problems.joined(separator: "; "))
    } catch is NIOTooManyBytesError {
        return failure(.contentTooLarge, "the request body is over the coordinator's limit (\(maximumBodyBytes) bytes; for a completion, recur serve --max-checkpoint-bytes)")
    } catch let e as HTTPError {
        return failure(e.status, e.body ?? "\(e.status)")
    } catch {
        return failure(.internalServerError, "\(error)")
    }
}

extension String {
    var snakeCased: String {
        var out = ""
        for c in self {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }
}

/// Requires `Authorization: Bearer <token>`, compared in constant time.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    init(token: String) { self.token = Array(token.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/login" { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let bearer = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : ""
        let cookie = (request.headers[.cookie] ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("recur_token=") }.map { String($0.dropFirst(12)) } ?? ""
        let presented = Array((bearer.isEmpty ? cookie : bearer).utf8)
        var difference = UInt8(presented.count == token.count ? 0 : 1)
        for i in 0..<token.count { difference |= token[i] ^ (i < presented.count ? presented[i] : 0) }
        guard difference == 0 else {
            if !path.hasPrefix("/v1") && path != "/metrics" { return Response(status: .seeOther, headers: [.location: "/login"]) }
            return (try? json(API.ErrorBody(error: "missing or wrong bearer token; pass --token-file"), status: .unauthorized)) ?? Response(status: .unauthorized)
        }
        return try await next(request, context)
    }
}
