import ArgumentParser

/// `recur sweep …`: sweep definitions.
struct Sweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate and manage sweeps.",
        subcommands: [Create.self, Validate.self, Plan.self, Enqueue.self, List.self, Pause.self, Resume.self, Cancel.self]
    )
}
