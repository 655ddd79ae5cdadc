import ArgumentParser
import Foundation
import RecurStore

/// `recur token …`: scoped tokens, written straight into the coordinator's database (a running
/// coordinator sees a new or revoked token on its next request).
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke tokens: worker (run trials), viewer (read, dashboard) or admin (everything).",
        discussion: """
            Only a token's SHA-256 is stored; `create` prints the token once, alone on its last line:
              recur token create --role worker --name rack-3 --db sweeps.db | tail -1 > worker.token
            The token file beside the database (<db>.token) stays the admin token.
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    /// Opens the coordinator's database for the token tables (created and migrated if needed).
    static func open(_ db: String) throws -> SweepStore {
        guard FileManager.default.fileExists(atPath: db) else {
            throw CLIError("--db \(db): no database there; start the coordinator once (recur serve --db \(db)) or check the path")
        }
        do { return try SweepStore(path: db) } catch let error as StoreError { throw CLIError("\(db): \(error)") } catch {
            throw CLIError("--db \(db): cannot open it as a Recur database (\(error))")
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token and print it once (the last line, alone).")

        @Option(help: "worker, viewer or admin.") var role: TokenRole
        @Option(help: "A unique name to list and revoke it by (default: ROLE-<random>).") var name: String?
        @Option(help: "The coordinator's database.") var db: String

        func validate() throws {
            if let name, name.isEmpty || name.count > 100 || name.contains(where: { $0.isWhitespace || $0.isNewline }) {
                throw ValidationError("--name: '\(name)' must be 1 to 100 characters without spaces")
            }
        }

        func run() throws {
            let store = try Token.open(db)
            let name = self.name ?? "\(role.rawValue)-\(SweepStore.newSecret().prefix(8))"
            let secret: String
            do { secret = try store.createToken(name: name, role: role, now: Date().timeIntervalSince1970) } catch let error as StoreError {
                throw CLIError("\(error)")
            }
            FileHandle.standardError.write(Data("created \(role.rawValue) token '\(name)'; it is shown once, store it now (mode 0600)\n".utf8))
            print(secret)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens by name and role (never the tokens themselves).")

        @Option(help: "The coordinator's database.") var db: String

        func run() throws {
            let tokens = try Token.open(db).tokens()
            let formatter = ISO8601DateFormatter()
            print("NAME".padding(toLength: 24, withPad: " ", startingAt: 0) + "ROLE    CREATED               REVOKED")
            for t in tokens {
                let created = formatter.string(from: Date(timeIntervalSince1970: t.createdAt))
                let revoked = t.revokedAt.map { formatter.string(from: Date(timeIntervalSince1970: $0)) } ?? "-"
                print(
                    t.name.padding(toLength: max(24, t.name.count + 1), withPad: " ", startingAt: 0)
                        + t.role.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0) + created + "  " + revoked
                )
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by name; its next call gets 401.")

        @Argument(help: "The token's name (recur token list).") var name: String
        @Option(help: "The coordinator's database.") var db: String

        func run() throws {
            do { try Token.open(db).revokeToken(name: name, now: Date().timeIntervalSince1970) } catch let error as StoreError {
                throw CLIError("\(error)")
            }
            print("revoked token '\(name)'")
        }
    }
}
