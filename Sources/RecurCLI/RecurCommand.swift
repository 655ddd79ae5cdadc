import ArgumentParser
import RecurEngine

/// `recur`: hyperparameter sweeps for recurrent forecasting models.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
public struct RecurCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "recur",
        abstract: "Hyperparameter sweeps for recurrent forecasting models, on a Keras-exact CPU engine.",
        version: BuildInfo.summary,
        subcommands: [
            Run.self, Serve.self, WorkerCommand.self, Sweep.self, Status.self, Leaderboard.self, Trial.self, Workers.self, Export.self, Report.self,
            Train.self, Predict.self, DataCommand.self, Engine.self, Bench.self, TLS.self, Token.self, LoginLink.self,
        ]
    )

    public init() {}
}

/// `recur engine …`: the training engine on its own.
struct Engine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create models and run inference with the RNN engine.",
        subcommands: [Init.self, Forward.self]
    )
}

/// `recur bench …`: release-build speed measurements (benchmarks, not tests).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed (build with -c release).",
        subcommands: [EngineBench.self, GemmBench.self, SamplerBench.self, CoordinatorBench.self]
    )
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the BLAS and kernel choice (and a restart to change it) to standard error.")
    var verbose = false
}
