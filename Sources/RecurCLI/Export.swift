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
        do {
            _ = try? FileManager.default.removeItem(at: target)
            try FileManager.default.moveItem(at: part, to: target)
        } catch {
            throw CLIError("cannot write \(output): \(error.localizedDescription)")
        }
        print("wrote \(output) (\(bytes) bytes)")
    }
}
