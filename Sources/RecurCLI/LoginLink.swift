import ArgumentParser
import Foundation
import RecurStore

/// `recur login-link`: a one-time dashboard sign-in link, so no token is ever put in a URL
/// (browser history and proxy logs keep URLs).
struct LoginLink: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login-link",
        abstract: "Print a dashboard sign-in link that works once, for a few minutes.",
        discussion: """
            Example:
              recur login-link --db sweeps.db --url https://coordinator.lan:7878
            Opening it starts a browser session (a cookie holding a random session id, 12 hours).
            """
    )

    @Option(help: "The coordinator's database.") var db: String
    @Option(help: "The coordinator's address as the browser reaches it.") var url = "http://127.0.0.1:7878"
    @Option(help: "The session's role.") var role: Role = .viewer

    /// The roles that read the dashboard (a worker token does not sign in).
    enum Role: String, CaseIterable, ExpressibleByArgument {
        case viewer, admin
        var tokenRole: TokenRole { self == .admin ? .admin : .viewer }
    }
    @Option(help: "Minutes the link stays valid (1 to 60).") var minutes = 10
    @Option(help: "The page to open after signing in (a path on the coordinator).") var next = "/"

    func validate() throws {
        guard (1...60).contains(minutes) else { throw ValidationError("--minutes: \(minutes) must be from 1 to 60") }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ValidationError("--url: '\(url)' must start with http:// or https://")
        }
        guard next.hasPrefix("/") else { throw ValidationError("--next: '\(next)' must be a path starting with /") }
    }

    func run() throws {
        let store = try Token.open(db)
        let secret = try store.createSignInLink(role: role.tokenRole, expires: Date().timeIntervalSince1970 + Double(minutes) * 60)
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        let nextQuery = next == "/" ? "" : "&next=" + (next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/")
        FileHandle.standardError.write(Data("valid once, for \(minutes) minute(s), as \(role.rawValue):\n".utf8))
        print("\(base)/login?link=\(secret)\(nextQuery)")
    }
}
