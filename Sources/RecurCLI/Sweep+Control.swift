import ArgumentParser
import Foundation
import RecurAPI
import RecurSweep
import RecurWorker

/// `recur sweep pause|resume|cancel NAME`.
struct SweepControl {
    static func change(_ name: String, _ action: SweepAction, _ connection: ConnectionOptions) async throws {
        let s = try await connection.with { try await $0.control(sweep: name, action) }
        print("sweep \(s.name) is \(s.state.rawValue)")
    }
}

extension Sweep {
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a sweep: running trials stop at their next epoch and go back to the queue.",
            discussion: "Example:\n  recur sweep pause lecture --coordinator tcp://127.0.0.1:7878 --token-file sweeps.db.token"
        )
        @Argument(help: "Sweep name.") var name: String
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try await SweepControl.change(name, .pause, connection) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused sweep.", discussion: "Example:\n  recur sweep resume lecture")
        @Argument(help: "Sweep name.") var name: String
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try await SweepControl.change(name, .resume, connection) }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a sweep; its results stay readable.",
            discussion: "Example:\n  recur sweep cancel lecture"
        )
        @Argument(help: "Sweep name.") var name: String
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try await SweepControl.change(name, .cancel, connection) }
    }
}
