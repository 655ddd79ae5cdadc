import Foundation
import GRDB
import RecurForecast

/// What a token may do. Workers run trials; viewers read; admins do everything.
public enum TokenRole: String, Sendable, CaseIterable, Codable {
    case worker, viewer, admin
}

/// A named token as `recur token list` shows it (never the secret: only its SHA-256 is stored).
public struct TokenRecord: Sendable, Equatable {
    public var name: String
    public var role: TokenRole
    public var createdAt: Double
    public var revokedAt: Double?
}

/// Scoped tokens, one-time sign-in links and dashboard sessions. Secrets are 32 random bytes as
/// hex, shown once; the database keeps their SHA-256, so a copy of it grants nothing.
extension SweepStore {
    /// A new random secret: 32 bytes from the system's generator, as 64 hex digits.
    public static func newSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    /// Stores a token under a unique name and returns its secret.
    public func createToken(name: String, role: TokenRole, now: Double) throws -> String {
        let secret = Self.newSecret()
        try write { db in
            do {
                try db.execute(
                    sql: "INSERT INTO tokens (name, role, sha256, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [name, role.rawValue, sha256Hex(Data(secret.utf8)), now]
                )
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StoreError.duplicate("a token named '\(name)' exists (revoked or not); pick another --name")
            }
        }
        return secret
    }

    public func tokens() throws -> [TokenRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT name, role, created_at, revoked_at FROM tokens ORDER BY created_at, name").map { row in
                TokenRecord(
                    name: row["name"],
                    role: TokenRole(rawValue: row["role"]) ?? .viewer,
                    createdAt: row["created_at"],
                    revokedAt: row["revoked_at"]
                )
            }
        }
    }

    /// Revokes a token by name; its next call gets 401, and the dashboard sessions it started end.
    public func revokeToken(name: String, now: Double) throws {
        try write { db in
            try db.execute(sql: "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", arguments: [now, name])
            guard db.changesCount == 1 else {
                let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM tokens WHERE name = ?", arguments: [name]) ?? false
                throw StoreError.notFound(.token, exists ? "token '\(name)' is already revoked" : "no token named '\(name)'; see recur token list")
            }
            try db.execute(sql: "DELETE FROM sessions WHERE token_sha256 = (SELECT sha256 FROM tokens WHERE name = ?)", arguments: [name])
        }
    }

    /// The role of a live (not revoked) token, found by the SHA-256 of the presented secret.
    public func role(ofTokenHash hash: String) throws -> TokenRole? {
        try read { db in
            try String.fetchOne(db, sql: "SELECT role FROM tokens WHERE sha256 = ? AND revoked_at IS NULL", arguments: [hash])
                .flatMap(TokenRole.init(rawValue:))
        }
    }

    /// A one-time sign-in link's secret, valid until `expires`.
    public func createSignInLink(role: TokenRole, expires: Double) throws -> String {
        let secret = Self.newSecret()
        try write { db in
            try db.execute(
                sql: "INSERT INTO sign_in_links (sha256, role, expires_at) VALUES (?, ?, ?)",
                arguments: [sha256Hex(Data(secret.utf8)), role.rawValue, expires]
            )
        }
        return secret
    }

    /// Uses a sign-in link: its role the first time, before it expires; nil ever after.
    public func redeemSignInLink(_ secret: String, now: Double) throws -> TokenRole? {
        try write { db in
            try String.fetchOne(
                db,
                sql: "UPDATE sign_in_links SET used_at = ? WHERE sha256 = ? AND used_at IS NULL AND expires_at > ? RETURNING role",
                arguments: [now, sha256Hex(Data(secret.utf8)), now]
            ).flatMap(TokenRole.init(rawValue:))
        }
    }

    /// A dashboard session's secret (the cookie's value), valid until `expires`. `tokenSHA256`
    /// names the token that signed in (nil for a one-time link), so the session ends with it.
    /// Expired sessions and links are cleared on the way.
    public func createSession(role: TokenRole, tokenSHA256: String?, expires: Double, now: Double) throws -> String {
        let secret = Self.newSecret()
        try write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at <= ?", arguments: [now])
            try db.execute(sql: "DELETE FROM sign_in_links WHERE expires_at <= ?", arguments: [now])
            try db.execute(
                sql: "INSERT INTO sessions (sha256, role, token_sha256, expires_at) VALUES (?, ?, ?, ?)",
                arguments: [sha256Hex(Data(secret.utf8)), role.rawValue, tokenSHA256, expires]
            )
        }
        return secret
    }

    /// A live session's role and the hash of the token that started it (nil: a link).
    public func session(_ secret: String, now: Double) throws -> (role: TokenRole, tokenSHA256: String?)? {
        try read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT role, token_sha256 FROM sessions WHERE sha256 = ? AND expires_at > ?",
                    arguments: [sha256Hex(Data(secret.utf8)), now]
                ), let role = TokenRole(rawValue: row["role"])
            else { return nil }
            return (role, row["token_sha256"])
        }
    }
}
