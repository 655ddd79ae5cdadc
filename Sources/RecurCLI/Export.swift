import ArgumentParser
import Foundation

/// `recur export TRIAL -o model.safetensors`.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a completed trial's best checkpoint (usable by `recur predict` and `recur engine forward`).",
        discussion: """
            TRIAL is the trial id (the leaderboard's id column), or with --sweep the trial number in
            that sweep (its trial column).

            Examples:
              recur export 12 -o best.safetensors --db .recur/recur.db
              recur export 3 --sweep lecture -o best.safetensors --db .recur/recur.db
            """
    )

    @Argument(help: "Trial id, or with --sweep the trial number.") var trial: Int64
    @Option(help: "Read TRIAL as this sweep's trial number.") var sweep: String?
    @Option(name: [.short, .customLong("output")], help: "Checkpoint file to write.") var output: String
    @OptionGroup var source: ReadOptions

    func run() async throws {
        let reader = try source.reader()
        let data = try await reader.checkpoint(try await reader.trialID(trial, sweep: sweep))
        do { try data.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw CLIError("cannot write \(output): \(error.localizedDescription)")
        }
        print("wrote \(output) (\(data.count) bytes)")
    }
}
