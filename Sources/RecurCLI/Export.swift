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
        try OutputPath.check(
            output,
            option: "--output",
            example: "trial-\(trial).safetensors",
            inputs: source.databaseFiles
        )
        let reader = try source.reader()
        let id = try await reader.trialID(trial, sweep: sweep)
        // Streamed into a file beside the output, renamed once whole: never in memory, never half-written.
        let target = URL(fileURLWithPath: output)
        let part = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).part")
        guard FileManager.default.createFile(atPath: part.path, contents: nil) else {
            throw CLIError("cannot write \(output): its directory is not writable")
        }
        let bytes: Int64
        do { bytes = try await reader.saveCheckpoint(id, to: part) } catch {
            _ = try? FileManager.default.removeItem(at: part)
            throw error
        }
        // rename(2) replaces a file in one step and never a directory.
        guard rename(part.path, target.path) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = try? FileManager.default.removeItem(at: part)
            throw CLIError("cannot write \(output): \(reason)")
        }
        print("wrote \(output) (\(bytes) bytes)")
    }
}
