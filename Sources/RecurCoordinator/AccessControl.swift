import Foundation
import HTTPTypes
import Hummingbird
import RecurForecast
import RecurStore

/// Who may call what over TCP. The token file beside the database is the admin token; tokens
/// made by `recur token create` carry a role and are stored as SHA-256 only, so they are looked up
/// by that hash (a timing difference can only tell an attacker about a hash, not a token); the
/// admin token is compared in constant time. Nothing is cached: a revoked token's next call
/// gets 401.
public struct AccessControl: Sendable {
    let adminToken: String
    let store: SweepStore
    let clock: @Sendable () -> Double
    /// How long a dashboard session lasts.
    static let sessionSeconds = 12 * 3600.0

    public init(adminToken: String, store: SweepStore, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.adminToken = adminToken
        self.store = store
        self.clock = clock
    }

    /// The role of a bearer token, or nil when it is unknown or revoked.
    func role(bearer: String) -> TokenRole? {
        guard !bearer.isEmpty, bearer.utf8.count <= 200 else { return nil }
        if !adminToken.isEmpty && constantTimeEqual(bearer, adminToken) { return .admin }
        return try? store.role(ofTokenHash: sha256Hex(Data(bearer.utf8)))
    }

    /// The role of a dashboard session cookie, or nil when it is unknown or expired, or the token
    /// that started it is revoked (or is no longer the admin token file's).
    func role(session: String) -> TokenRole? {
        guard !session.isEmpty, session.utf8.count <= 200, let (role, token) = try? store.session(session, now: clock()) else { return nil }
        guard let token else { return role }
        if !adminToken.isEmpty && constantTimeEqual(token, sha256Hex(Data(adminToken.utf8))) { return role }
        return (try? store.role(ofTokenHash: token)) != nil ? role : nil
    }

    /// A session for a browser that proved `role` with a one-time link or with `token` (the form);
    /// its secret.
    func startSession(role: TokenRole, token: String?) throws -> String {
        let now = clock()
        let hash = token.map { sha256Hex(Data($0.utf8)) }
        return try store.createSession(role: role, tokenSHA256: hash, expires: now + Self.sessionSeconds, now: now)
    }

    /// Uses a one-time sign-in link; nil when it is unknown, used or expired.
    func redeem(link: String) -> TokenRole? {
        guard !link.isEmpty, link.utf8.count <= 200 else { return nil }
        return try? store.redeemSignInLink(link, now: clock())
    }
}

/// What a route needs of the caller's role.
enum Access: Sendable, Equatable {
    /// Anyone (sign-in).
    case open
    /// The worker protocol: workers and admins.
    case worker
    /// Read APIs, `/metrics` and the dashboard: viewers and admins.
    case read
    /// Dataset downloads: every role (workers fetch them; viewers read).
    case dataset
    /// Creating and controlling sweeps, uploading datasets.
    case admin

    func allows(_ role: TokenRole) -> Bool {
        switch self {
        case .open, .dataset: return true
        case .worker: return role == .worker || role == .admin
        case .read: return role == .viewer || role == .admin
        case .admin: return role == .admin
        }
    }

    /// Names the roles that may call, for a 403's message.
    var roles: String {
        switch self {
        case .open, .dataset: return "any token"
        case .worker: return "a worker or admin token"
        case .read: return "a viewer or admin token"
        case .admin: return "an admin token"
        }
    }
}

/// Every documented path with what each of its methods needs, as docs/openapi.yaml documents
/// them. It drives both 405 (`Allow`) and the role check; a test checks it against the document.
let documentedRoutes: [(template: [Substring], methods: [HTTPRequest.Method: Access])] = [
    ("/v1/workers", [.post: .worker, .get: .read]), ("/v1/lease", [.post: .worker]), ("/v1/leases/{}/heartbeat", [.post: .worker]),
    ("/v1/leases/{}/epochs", [.post: .worker]), ("/v1/leases/{}/checkpoint", [.put: .worker]), ("/v1/leases/{}/complete", [.post: .worker]),
    ("/v1/leases/{}/fail", [.post: .worker]), ("/v1/leases/{}/release", [.post: .worker]),
    ("/v1/datasets/{}", [.head: .dataset, .get: .dataset, .put: .admin]), ("/v1/sweeps", [.get: .read, .post: .admin]),
    ("/v1/sweeps/validate", [.post: .read]), ("/v1/sweeps/{}", [.get: .read]), ("/v1/sweeps/{}/pause", [.post: .admin]),
    ("/v1/sweeps/{}/enqueue", [.post: .admin]),
    ("/v1/sweeps/{}/resume", [.post: .admin]), ("/v1/sweeps/{}/cancel", [.post: .admin]), ("/v1/sweeps/{}/leaderboard", [.get: .read]),
    ("/v1/trials/{}", [.get: .read]), ("/v1/trials/{}/checkpoint", [.get: .read]), ("/metrics", [.get: .read]), ("/", [.get: .read]),
    ("/sweeps/{}", [.get: .read]), ("/trials/{}", [.get: .read]), ("/login", [.get: .open, .post: .open]),
].map { (template: $0.0.split(separator: "/"), methods: $0.1) }

/// The methods of the documented path `path` with what each needs, or nil for an unknown path.
/// A literal segment wins over a parameter (`/v1/sweeps/validate` over `/v1/sweeps/{}`).
func documentedMethods(path: String) -> [HTTPRequest.Method: Access]? {
    let parts = path.split(separator: "/")
    var found: [HTTPRequest.Method: Access]?
    for (template, methods) in documentedRoutes where template.count == parts.count {
        guard zip(template, parts).allSatisfy({ $0 == "{}" || $0 == $1 }) else { continue }
        if !template.contains("{}") { return methods }
        found = found.map { $0.merging(methods) { a, _ in a } } ?? methods
    }
    return found
}

/// The methods allowed on `path`, or nil for an unknown path.
func allowedMethods(path: String) -> Set<HTTPRequest.Method>? { documentedMethods(path: path).map { Set($0.keys) } }

/// What a request needs: its route's entry (HEAD as GET where HEAD is not its own); unknown
/// paths need a valid token of any role, so they tell nothing to a stranger.
func requiredAccess(method: HTTPRequest.Method, path: String) -> Access {
    guard let methods = documentedMethods(path: path) else { return .dataset }
    return methods[method] ?? (method == .head ? methods[.get] : nil) ?? .dataset
}

/// Requires a token (`Authorization: Bearer`, or the dashboard's session cookie) whose role
/// allows the route: none or an unknown one gets 401, a known one without the role 403. API calls
/// get JSON; dashboard pages the sign-in form (401) or a page saying why (403).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: AccessControl

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let required = requiredAccess(method: request.method, path: path)
        if required == .open { return try await next(request, context) }
        let isAPI = path.hasPrefix("/v1") || path == "/metrics"
        let header = request.headers[.authorization] ?? ""
        let role: TokenRole?
        if header.hasPrefix("Bearer ") {
            role = access.role(bearer: String(header.dropFirst(7)))
        } else if let session = request.cookies["recur_session"]?.value {
            role = access.role(session: session)
        } else {
            role = nil
        }
        guard let role else {
            if isAPI { throw APIFailure(.unauthorized, .unauthorized, "missing, wrong or revoked bearer token; pass --token-file") }
            return html(Dashboard.login(next: localPath(request.uri.string)), status: .unauthorized)
        }
        guard required.allows(role) else {
            let message = "a \(role.rawValue) token may not \(request.method) \(path); it needs \(required.roles) (recur token create --role …)"
            if isAPI { throw APIFailure(.forbidden, .forbidden, message) }
            return html(Dashboard.message("Forbidden", message), status: .forbidden)
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
