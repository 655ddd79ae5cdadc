import ArgumentParser

/// `recur`: distributed hyperparameter sweeps for recurrent forecasting models.
public struct RecurCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "recur",
        abstract: "Hyperparameter sweeps for recurrent forecasting models, on a Keras-exact CPU engine.",
        subcommands: [])

    public init() {}
}
