import Foundation
import Hummingbird
import HummingbirdTesting
import RecurAPI
import RecurEngine
import RecurStore
import Testing

@testable import RecurCoordinator

/// Scoped tokens over the router: every documented route × every role, revocation, and the
/// dashboard's sign-in (one-time links, sessions, same-origin `next`).
@Suite struct AccessTests {
    /// Who may call each documented operation; written out here, independent of the router's
    /// own table, and checked to cover docs/openapi.yaml exactly.
    static let expected: [String: Set<TokenRole>] = {
        let workers: Set<TokenRole> = [.worker, .admin]
        let readers: Set<TokenRole> = [.viewer, .admin]
        let admins: Set<TokenRole> = [.admin]
        let everyone = Set(TokenRole.allCases)
        return [
            "POST /v1/workers": workers, "GET /v1/workers": readers, "POST /v1/lease": workers,
            "POST /v1/leases/{token}/heartbeat": workers, "POST /v1/leases/{token}/epochs": workers,
            "PUT /v1/leases/{token}/checkpoint": workers, "POST /v1/leases/{token}/complete": workers,
            "POST /v1/leases/{token}/fail": workers, "POST /v1/leases/{token}/release": workers,
            "HEAD /v1/datasets/{sha256}": everyone, "GET /v1/datasets/{sha256}": everyone, "PUT /v1/datasets/{sha256}": admins,
            "GET /v1/sweeps": readers, "POST /v1/sweeps": admins, "POST /v1/sweeps/validate": readers, "GET /v1/sweeps/{name}": readers,
            "POST /v1/sweeps/{name}/pause": admins, "POST /v1/sweeps/{name}/enqueue": admins, "POST /v1/sweeps/{name}/resume": admins,
            "POST /v1/sweeps/{name}/cancel": admins,
            "GET /v1/sweeps/{name}/leaderboard": readers, "GET /v1/trials/{id}": readers, "GET /v1/trials/{id}/checkpoint": readers,
            "GET /metrics": readers, "GET /": readers, "GET /sweeps/{name}": readers, "GET /trials/{id}": readers,
            "GET /login": everyone, "POST /login": everyone,
        ]
    }()

    static func app() throws -> (some ApplicationProtocol, Coordinator, [TokenRole: String]) {
        let coordinator = try Coordinator(store: SweepStore(), leaseSeconds: 30, datasetDirectory: RouterTests.root)
        let access = AccessControl(adminToken: "admin-secret", store: coordinator.store)
        var tokens: [TokenRole: String] = [.admin: "admin-secret"]
        for role in [TokenRole.worker, .viewer] { tokens[role] = try coordinator.store.createToken(name: role.rawValue, role: role, now: 0) }
        return (Application(router: try buildRouter(coordinator: coordinator, metrics: HTTPMetrics(), access: access)), coordinator, tokens)
    }

    @Test func everyRouteTimesEveryRoleIsAllowedOrForbidden() async throws {
        let documented = try RouterTests.documentedOperations()
        #expect(
            Set(Self.expected.keys) == documented,
            "the test's table and docs/openapi.yaml differ: \(documented.symmetricDifference(Self.expected.keys))"
        )
        let (app, _, tokens) = try Self.app()
        try await app.test(.router) { client in
            for (operation, allowed) in Self.expected.sorted(by: { $0.key < $1.key }) {
                let parts = operation.split(separator: " ")
                let method = HTTPRequest.Method(String(parts[0]))!
                let uri = String(parts[1]).replacing(#/\{id\}/#, with: "1").replacing(#/\{sha256\}/#, with: String(repeating: "a", count: 64))
                    .replacing(#/\{[a-z0-9_]+\}/#, with: "x")
                for role in TokenRole.allCases {
                    let headers: HTTPFields = [.authorization: "Bearer \(tokens[role]!)", .contentType: "application/json"]
                    try await client.execute(uri: uri, method: method, headers: headers) { r in
                        if parts[1] == "/login" {
                            // Signing in reads the form's token, not the header: no 403 from the role check.
                            #expect(r.status != .forbidden, "\(operation) as \(role): \(r.status)")
                        } else if allowed.contains(role) {
                            #expect(r.status != .forbidden && r.status != .unauthorized, "\(operation) as \(role): \(r.status)")
                        } else {
                            #expect(r.status == .forbidden, "\(operation) as \(role): \(r.status), expected 403")
                            if parts[1].hasPrefix("/v1") || parts[1] == "/metrics" {
                                #expect(String(buffer: r.body).contains(#""code":"forbidden""#), "\(operation) as \(role)")
                            }
                        }
                    }
                }
                // No token: 401, but for the sign-in form.
                try await client.execute(uri: uri, method: method, headers: [.contentType: "application/json"]) { r in
                    #expect((r.status == .unauthorized) == (operation != "GET /login"), "\(operation) anonymously: \(r.status)")
                }
            }
        }
    }

    @Test func aRevokedTokenIs401OnItsNextCall() async throws {
        let (app, coordinator, tokens) = try Self.app()
        let viewer: HTTPFields = [.authorization: "Bearer \(tokens[.viewer]!)"]
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/sweeps", method: .get, headers: viewer) { #expect($0.status == .ok) }
            try coordinator.store.revokeToken(name: "viewer", now: 1)
            try await client.execute(uri: "/v1/sweeps", method: .get, headers: viewer) { r in
                #expect(r.status == .unauthorized && String(buffer: r.body).contains(#""code":"unauthorized""#))
            }
        }
        #expect(throws: StoreError.self) { try coordinator.store.revokeToken(name: "viewer", now: 2) }
        #expect(try coordinator.store.tokens().first { $0.name == "viewer" }?.revokedAt == 1)
    }

    /// Only the SHA-256 of a token is stored: the database holds nothing that signs in.
    @Test func tokensAreStoredAsHashesOnly() throws {
        let store = try SweepStore()
        let secret = try store.createToken(name: "w", role: .worker, now: 0)
        let rows = try store.read { db in try String.fetchAll(db, sql: "SELECT name || role || sha256 FROM tokens") }
        #expect(rows.count == 1 && !rows[0].contains(secret))
        #expect(throws: StoreError.self) { _ = try store.createToken(name: "w", role: .viewer, now: 0) }
    }

    /// A link signs in once, before it expires; the session cookie then reads pages, and holds
    /// neither the link nor a token.
    @Test func aSignInLinkWorksOnceAndStartsASession() async throws {
        let (app, coordinator, tokens) = try Self.app()
        let link = try coordinator.store.createSignInLink(role: .viewer, expires: Date().timeIntervalSince1970 + 600)
        let expired = try coordinator.store.createSignInLink(role: .viewer, expires: Date().timeIntervalSince1970 - 1)
        try await app.test(.router) { client in
            let first = try await client.execute(uri: "/login?link=\(link)&next=/sweeps/x", method: .get)
            #expect(first.status == .seeOther && first.headers[.location] == "/sweeps/x")
            let cookie = try #require(first.headers[.setCookie])
            #expect(cookie.hasPrefix("recur_session=") && !cookie.contains(link) && !cookie.contains(tokens[.viewer]!) && cookie.contains("HttpOnly"))
            let session = String(cookie.dropFirst("recur_session=".count).prefix { $0 != ";" })
            try await client.execute(uri: "/", method: .get, headers: [.cookie: "recur_session=\(session)"]) { #expect($0.status == .ok) }
            // A viewer's session reads; it does not act.
            try await client.execute(uri: "/v1/sweeps/x/cancel", method: .post, headers: [.cookie: "recur_session=\(session)"]) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/login?link=\(link)", method: .get) { #expect($0.status == .unauthorized, "a link works once") }
            try await client.execute(uri: "/login?link=\(expired)", method: .get) { #expect($0.status == .unauthorized, "an expired link") }
            try await client.execute(uri: "/login?token=\(tokens[.admin]!)", method: .get) { r in
                #expect(r.status == .ok && r.headers[.setCookie] == nil, "a token in a URL signs nobody in")
            }
            try await client.execute(uri: "/", method: .get, headers: [.cookie: "recur_session=forged"]) { #expect($0.status == .unauthorized) }
        }
    }

    /// The form takes viewer and admin tokens; a worker's token does not read the dashboard.
    @Test func theFormRefusesWorkerTokens() async throws {
        let (app, _, tokens) = try Self.app()
        let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        try await app.test(.router) { client in
            try await client.execute(uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "token=\(tokens[.worker]!)")) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(
                uri: "/login",
                method: .post,
                headers: form,
                body: ByteBuffer(string: "token=\(tokens[.viewer]!)&next=/trials/1")
            ) { r in
                #expect(r.status == .seeOther && r.headers[.location] == "/trials/1" && r.headers[.setCookie]?.hasPrefix("recur_session=") == true)
            }
        }
    }

    /// `next` is a path on this site or `/`: `//host`, `/\host` (read as `//host`) and schemes
    /// would send a signed-in user elsewhere.
    @Test func signInRedirectsOnlyToLocalPaths() async throws {
        let (app, coordinator, _) = try Self.app()
        try await app.test(.router) { client in
            for (next, location) in [
                ("/sweeps/a", "/sweeps/a"), ("//evil.example", "/"), ("/%5Cevil.example", "/"), ("https://evil.example", "/"),
                ("/%0d%0aSet-Cookie:x", "/"),
            ] {
                let link = try coordinator.store.createSignInLink(role: .viewer, expires: Date().timeIntervalSince1970 + 600)
                try await client.execute(uri: "/login?link=\(link)&next=\(next)", method: .get) { r in
                    #expect(r.status == .seeOther && r.headers[.location] == location, "next=\(next) → \(r.headers[.location] ?? "none")")
                }
            }
        }
    }

    /// A session started with a token ends when the token is revoked; over HTTPS its cookie is
    /// `Secure`, so a browser never sends it in clear.
    @Test func sessionsEndWithTheirTokenAndAreSecureOverTLS() async throws {
        let coordinator = try Coordinator(store: SweepStore(), leaseSeconds: 30, datasetDirectory: RouterTests.root)
        let access = AccessControl(adminToken: "admin-secret", store: coordinator.store)
        let viewer = try coordinator.store.createToken(name: "v", role: .viewer, now: 0)
        let app = Application(router: try buildRouter(coordinator: coordinator, metrics: HTTPMetrics(), access: access, tls: true))
        let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        try await app.test(.router) { client in
            let signIn = try await client.execute(uri: "/login", method: .post, headers: form, body: ByteBuffer(string: "token=\(viewer)"))
            let cookie = try #require(signIn.headers[.setCookie])
            #expect(cookie.contains("Secure") && cookie.contains("HttpOnly"), "\(cookie)")
            let session: HTTPFields = [.cookie: String(cookie.prefix { $0 != ";" })]
            try await client.execute(uri: "/", method: .get, headers: session) { #expect($0.status == .ok) }
            try coordinator.store.revokeToken(name: "v", now: 1)
            try await client.execute(uri: "/", method: .get, headers: session) { #expect($0.status == .unauthorized) }
        }
    }
}
