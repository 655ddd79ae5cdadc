import ArgumentParser
import Foundation
import Logging
import RecurAPI
import RecurSweep
import RecurWorker

/// How a command reaches the coordinator.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "tcp://HOST:PORT or unix:PATH (or RECUR_COORDINATOR; default tcp://127.0.0.1:7878).") var coordinator: String?
    @Option(name: .customLong("token-file"), help: "The coordinator's token file (or RECUR_TOKEN_FILE).") var tokenFile: String?

    var target: String { coordinator ?? ProcessInfo.processInfo.environment["RECUR_COORDINATOR"] ?? "tcp://127.0.0.1:7878" }

    func validate() throws {
        guard CoordinatorAddress(target) != nil else { throw ValidationError("--coordinator: '\(target)' is not tcp://HOST:PORT or unix:PATH") }
    }

    func client() throws -> CoordinatorClient {
        let address = CoordinatorAddress(target)!
        let path = tokenFile ?? ProcessInfo.processInfo.environment["RECUR_TOKEN_FILE"]
        let token = try path.map { try TokenFile.read(path: $0) }
        var logger = Logger(label: "recur.cli")
        logger.logLevel = .error
        return CoordinatorClient(address: address, token: token, logger: logger, connectTimeoutSeconds: 1)
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
            case .unreachable: throw CLIError("cannot reach the coordinator at \(target); is `recur serve` running there?")
            case .status(401, _, _): throw CLIError("the coordinator at \(target) refused the token; pass its token file with --token-file")
            case .status(_, _, let message): throw CLIError(message)
            }
        }
    }
}
