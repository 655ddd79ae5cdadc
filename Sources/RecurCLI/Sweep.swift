import ArgumentParser

/// `recur sweep …`: sweep definitions.
struct Sweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate and manage sweeps.",
        subcommands: [Create.self, Validate.self])
}
