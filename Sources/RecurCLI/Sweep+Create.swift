import ArgumentParser
import Foundation
import RecurAPI
import RecurSweep
import RecurWorker

extension Sweep {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a sweep file to the coordinator (or resume the sweep of that name, as recur run does); workers start on it at once.",
            discussion: """
                Example:
                  recur sweep create sweeps/lecture.yaml --coordinator tcp://127.0.0.1:7878 --token-file sweeps.db.token
                """
        )

        @Argument(help: "Sweep file (YAML).") var file: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let (spec, yaml) = try SweepSpec.load(path: file)
            let (summary, resumed) = try await connection.with { client in
                try await client.createSweep(yaml: yaml)
            }
            if resumed {
                print("resumed sweep \(summary.name): \(summary.state.rawValue), \(summary.trials) of up to \(summary.maxTrials) trials so far")
            } else {
                print("created sweep \(summary.name): \(spec.search.method.rawValue) search, up to \(summary.maxTrials) trials")
            }
        }
    }
}
