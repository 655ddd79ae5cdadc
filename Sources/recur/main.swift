import ArgumentParser
import Foundation
import RecurCLI

let verbose = CommandLine.arguments.contains("--verbose") || ProcessInfo.processInfo.environment["RECUR_VERBOSE"] == "1"
BLASCoreSelection.reexecIfNeeded(verbose: verbose)
do {
    var command = try RecurCommand.parseAsRoot()
    if var asyncCommand = command as? AsyncParsableCommand {
        try await asyncCommand.run()
    } else {
        try command.run()
    }
} catch {
    RecurCommand.exit(withError: error)
}
