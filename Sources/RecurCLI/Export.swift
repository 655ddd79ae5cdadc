import ArgumentParser
import Foundation

/// `recur export TRIAL -o model.safetensors`.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a completed trial's best checkpoint (usable by `recur predict` and `recur engine forward`).",
        discussion: "Example:\n  recur export 12 -o best.safetensors --db .recur/recur.db")

    @Argument(help: "Trial id.") var trial: Int64
    @Option(name: [.short, .customLong("output")], help: "Checkpoint file to write.") var output: String
    @OptionGroup var source: ReadOptions

    func run() async throws {
        let data = try await source.reader().checkpoint(trial)
        do { try data.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw CLIError("cannot write \(output): \(error.localizedDescription)")
        }
        print("wrote \(output) (\(data.count) bytes)")
    }
}
