import Foundation
import Hummingbird
import NIOCore
import RecurAPI
import RecurForecast
import RecurStore

/// The dashboard's HTML pages and sign-in. Query parameters are checked as docs/openapi.yaml
/// declares them: a value out of its schema gets 400, not a silent default.
/// `secure`: the listener serves HTTPS, so the session cookie is never sent over plain HTTP.
func dashboardRoutes(coordinator: Coordinator, access: AccessControl?, secure: Bool) -> RouteCollection<BasicRequestContext> {
    let router = RouteCollection(context: BasicRequestContext.self)
    router.get("/") { request, _ in await respondHTML(request) { try Dashboard.index(store: coordinator.store) } }
    router.get("/sweeps/:name") { request, context in
        await respondHTML(request) {
            let q = request.uri.queryParameters
            let sort = try q.get("sort").map { text in
                guard let column = SweepStore.SortColumn(rawValue: text) else { throw badQuery("sort", "val_mae, test_mae, trial, state or epochs") }
                return column
            }
            let desc = try flag(q.get("desc"), "desc")
            let standalone = try flag(q.get("standalone"), "standalone")
            let page = try q.get("page").map { text in
                guard let n = Int(text), (1...1_000_000).contains(n) else { throw badQuery("page", "a whole number from 1 to 1000000") }
                return n
            }
            return try Dashboard.sweep(
                store: coordinator.store,
                name: context.parameters.require("name"),
                sort: sort ?? .valMAE,
                descending: desc,
                page: page ?? 1,
                standalone: standalone
            )
        }
    }
    router.get("/trials/:id") { request, context in
        await respondHTML(request) {
            guard let id = Int64(try context.parameters.require("id")), id >= 1 else {
                throw APIError.badRequest("the trial id must be a positive integer")
            }
            return try Dashboard.trial(store: coordinator.store, id: id)
        }
    }
    // `/login?link=L&next=/sweeps/x` signs in with a one-time link (`recur login-link`); a token
    // never travels in a URL. Without a link it shows the form.
    router.get("/login") { request, _ in
        let q = request.uri.queryParameters
        if (q.get("link")?.count ?? 0) > 200 || (q.get("next")?.count ?? 0) > 2000 {
            return html(Dashboard.message("Error", "link is over 200 or next over 2000 characters."), status: .badRequest)
        }
        let next = localPath(q.get("next"))
        guard let link = q.get("link") else { return html(Dashboard.login(next: next)) }
        guard let access else { return Response(status: .seeOther, headers: [.location: next]) }
        guard let role = access.redeem(link: link) else {
            return html(Dashboard.login(next: next, expired: true), status: .unauthorized)
        }
        return try signedIn(access: access, role: role, token: nil, next: next, secure: secure)
    }
    router.post("/login") { request, context in
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: 4096) } catch {
            return html(Dashboard.message("Too large", "The sign-in form is over 4 KiB."), status: .contentTooLarge)
        }
        let form = try? URLEncodedFormDecoder().decode(LoginForm.self, from: String(buffer: body))
        let next = localPath(form?.next)
        guard let access else { return html(Dashboard.login(next: next)) }
        // Workers' tokens run trials; they do not read the dashboard.
        guard let presented = form?.token, let role = access.role(bearer: presented), role != .worker else {
            return html(Dashboard.login(next: next, wrong: true), status: .unauthorized)
        }
        return try signedIn(access: access, role: role, token: presented, next: next, secure: secure)
    }
    return router
}

struct LoginForm: Decodable {
    var token: String?
    var next: String?
}

/// A same-origin path to go to after signing in, or `/`. `//host` and `/\host` are read by
/// browsers as another origin, so they are refused, as is anything with a control character.
func localPath(_ next: String?) -> String {
    guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"),
        !next.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
    else { return "/" }
    return next
}

/// Starts a session and sends the browser on: the cookie holds the session's secret, never a token.
func signedIn(access: AccessControl, role: TokenRole, token: String?, next: String, secure: Bool) throws -> Response {
    let session = try access.startSession(role: role, token: token)
    var response = Response(status: .seeOther, headers: [.location: next])
    response.setCookie(
        Cookie(
            name: "recur_session",
            value: session,
            maxAge: Int(AccessControl.sessionSeconds),
            path: "/",
            secure: secure,
            httpOnly: true,
            sameSite: .lax
        )
    )
    return response
}

func badQuery(_ name: String, _ expected: String) -> APIError { APIError.badRequest("\(name): expected \(expected)") }

/// `0` or `1` (absent: false).
func flag(_ text: String?, _ name: String) throws -> Bool {
    switch text {
    case nil, "0": return false
    case "1": return true
    default: throw badQuery(name, "0 or 1")
    }
}

func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

func respondHTML(_ request: Request? = nil, _ body: () throws -> String) async -> Response {
    do {
        let text = try body()
        // A page's ETag is its content's hash: the dashboard's polling revalidates with it and a
        // page that did not change costs a 304, not its bytes.
        let tag = "\"" + sha256Hex(Data(text.utf8)).prefix(24) + "\""
        if let request,
            request.headers[.ifNoneMatch]?.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == tag }) == true
        {
            return Response(status: .notModified, headers: [.eTag: tag, .cacheControl: "no-cache"])
        }
        var response = html(text)
        response.headers[.eTag] = tag
        response.headers[.cacheControl] = "no-cache"
        return response
    } catch {
        let failure = APIFailure(error)
        let title = failure.status == .notFound ? "Not found" : "Error"
        return html(Dashboard.message(title, failure.message), status: failure.status)
    }
}
