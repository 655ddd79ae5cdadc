import ArgumentParser
import Foundation
import RecurAPI
import RecurEngine
import RecurForecast
import RecurSweep
import RecurWorker

extension Sweep {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a sweep file to the coordinator (or resume the sweep of that name, as recur run does); workers start on it at once.",
            discussion: """
                The dataset (task.dataset, relative to the sweep file's directory or this one) is read
                here, and uploaded when the coordinator does not hold its SHA-256 yet; workers then
                fetch it from the coordinator. The sweep pins this recur's engine version unless it
                says workers: {engine: any}. Needs an admin token over TCP.

                Example:
                  recur sweep create sweeps/lecture.yaml --coordinator https://10.0.0.5:7878 --ca-file ca.pem --token-file sweeps.db.token
                """
        )

        @Argument(help: "Sweep file (YAML).") var file: String
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let (spec, yaml) = try SweepSpec.load(path: file)
            let dataset = try Self.locate(spec.task.dataset, sweepFile: file)
            // Checked here before a byte is uploaded: the coordinator keeps what it is sent.
            var local = spec.task
            local.dataset = dataset.path
            do { _ = try PreparedTask.load(local) } catch let error as ForecastError {
                throw CLIError("\(file): \(error.description.replacingOccurrences(of: dataset.path, with: spec.task.dataset))")
            }
            let sha: String
            do { sha = try sha256Hex(fileAt: dataset) } catch {
                throw CLIError("task.dataset: cannot read \(spec.task.dataset) (\(dataset.path)): \(error)")
            }
            let (summary, resumed) = try await connection.with { client in
                if try await !client.hasDataset(sha256: sha) {
                    try await client.uploadDataset(sha256: sha, file: dataset)
                    print("uploaded \(spec.task.dataset) (sha256 \(sha.prefix(12))…)")
                }
                return try await client.createSweep(yaml: yaml, datasetSHA256: sha, engineVersion: BuildInfo.engineVersion)
            }
            if resumed {
                print("resumed sweep \(summary.name): \(summary.state.rawValue), \(summary.trials) of up to \(summary.maxTrials) trials so far")
            } else {
                print("created sweep \(summary.name): \(spec.search.method.rawValue) search, up to \(summary.maxTrials) trials")
            }
        }

        /// The dataset as `recur run` finds it: relative to the current directory, else to the sweep
        /// file's directory.
        static func locate(_ dataset: String, sweepFile: String) throws -> URL {
            let here = URL(fileURLWithPath: dataset)
            if FileManager.default.isReadableFile(atPath: here.path) { return here }
            let beside = URL(fileURLWithPath: dataset, relativeTo: URL(fileURLWithPath: sweepFile).deletingLastPathComponent()).standardizedFileURL
            if FileManager.default.isReadableFile(atPath: beside.path) { return beside }
            throw CLIError("task.dataset: cannot read \(dataset) (looked in \(here.path) and \(beside.path)); run from the directory that holds it")
        }
    }
}
