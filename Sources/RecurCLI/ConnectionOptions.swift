import ArgumentParser
import Foundation
import Logging
import RecurAPI
import RecurSweep
import RecurWorker

/// How a command reaches the coordinator.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "https://HOST:PORT, tcp://HOST:PORT (plain HTTP) or unix:PATH (or RECUR_COORDINATOR; default tcp://127.0.0.1:7878).")
    var coordinator: String?
    @Option(name: .customLong("token-file"), help: "A token file: admin (<db>.token) or one from recur token create (or RECUR_TOKEN_FILE).")
    var tokenFile: String?
    @Option(name: .customLong("ca-file"), help: "PEM CA to trust for https:// (or RECUR_CA_FILE; default: the system's trust store).")
    var caFile: String?

    var target: String { coordinator ?? ProcessInfo.processInfo.environment["RECUR_COORDINATOR"] ?? "tcp://127.0.0.1:7878" }

    func validate() throws {
        guard CoordinatorAddress(target) != nil else {
            throw ValidationError("--coordinator: '\(target)' is not https://HOST:PORT, tcp://HOST:PORT (PORT 1–65535) or unix:PATH")
        }
    }

    func client() throws -> CoordinatorClient {
        let address = CoordinatorAddress(target)!
        let path = tokenFile ?? ProcessInfo.processInfo.environment["RECUR_TOKEN_FILE"]
        let token = try path.map { try TokenFile.read(path: $0) }
        var logger = Logger(label: "recur.cli")
        logger.logLevel = .error
        let ca = caFile ?? ProcessInfo.processInfo.environment["RECUR_CA_FILE"]
        do { return try CoordinatorClient(address: address, token: token, caFile: ca, logger: logger, connectTimeoutSeconds: 1) } catch {
            throw CLIError("\(error)")
        }
    }

    /// Runs `body` with a client, turning transport and API errors into one-line messages.
    func with<T>(_ body: (CoordinatorClient) async throws -> T) async throws -> T {
        let client = try self.client()
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch let error as CoordinatorCallError {
            await client.shutdown()
            switch error {
            case .unreachable:
                throw CLIError(
                    "cannot reach the coordinator at \(target); is `recur serve` running there?"
                        + (target.hasPrefix("tcp://") ? " (if it serves TLS, use https://HOST:PORT)" : "")
                )
            case .status(401, _, _):
                throw CLIError("the coordinator at \(target) refused the token (missing, wrong or revoked); pass a token file with --token-file")
            case .status(403, _, let message): throw CLIError("forbidden (403): \(message)")
            case .status(_, _, let message): throw CLIError(message)
            case .configuration(let message): throw CLIError(message)
            }
        }
    }
}
