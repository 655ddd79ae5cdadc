import ArgumentParser
import Foundation
import RecurCLI

/// Entry point: picks OpenBLAS kernels (re-executing once if needed), then runs the command.
@main
struct RecurMain {
    static func main() async {
        let verbose = CommandLine.arguments.contains("--verbose") || ProcessInfo.processInfo.environment["RECUR_VERBOSE"] == "1"
        BLASCoreSelection.reexecIfNeeded(verbose: verbose)
        await RecurCommand.main(nil)
    }
}
