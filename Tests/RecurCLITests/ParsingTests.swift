import ArgumentParser
import Testing

@testable import RecurCLI

/// Every subcommand parses its documented invocation in-process, and refuses bad flags with a
/// usage error (exit 64) before doing anything.
@Suite struct ParsingTests {
    static let good: [[String]] = [
        ["run", "sweeps/quickstart.yaml"], ["run", "s.yaml", "--workers", "2", "--db", "x.db", "--top", "5"],
        ["serve", "--db", "s.db", "--listen", "tcp://0.0.0.0:7878", "--listen", "unix:/tmp/r.sock"],
        ["worker", "--coordinator", "unix:/tmp/r.sock", "--slots", "2", "--sweep", "lecture"],
        ["sweep", "create", "s.yaml"], ["sweep", "validate", "a.yaml", "b.yaml"], ["sweep", "list", "--db", "x.db"],
        ["sweep", "pause", "lecture"], ["sweep", "resume", "lecture"], ["sweep", "cancel", "lecture"],
        ["status"], ["status", "lecture", "--watch"], ["leaderboard", "lecture", "--top", "10", "--format", "csv"],
        ["trial", "show", "12"], ["workers"], ["export", "12", "-o", "m.safetensors"],
        ["train", "--task", "t.yaml", "--cell", "gru"], ["predict", "--checkpoint", "m", "--data", "d.csv"],
        ["data", "synth", "--out", "x.csv"], ["engine", "init", "--spec", "s.json", "--output", "m"],
        ["engine", "forward", "--checkpoint", "m", "--input", "x.npy", "--output", "y.npy"],
        ["bench", "engine", "--json"], ["bench", "sampler"], ["bench", "coordinator", "--clients", "8"],
    ]

    @Test(arguments: good.indices)
    func documentedInvocationsParse(_ i: Int) throws {
        _ = try RecurCommand.parseAsRoot(Self.good[i])
    }

    static let bad: [[String]] = [
        ["run"], ["run", "s.yaml", "--workers", "0"], ["serve", "--db", "s.db", "--listen", "http://x"], ["serve"],
        ["worker", "--slots", "0"], ["worker", "--coordinator", "localhost"], ["sweep", "pause"], ["sweep", "launch", "x"],
        ["leaderboard", "x", "--format", "xml"], ["leaderboard", "x", "--top", "-1"], ["trial", "show", "x"], ["export", "3"],
        ["train", "--task", "t.yaml"], ["train", "--task", "t.yaml", "--cell", "gru", "--epochs", "0"],
        ["data", "synth", "--out", "x", "--rows", "0"],
        ["bench", "engine", "--models", "cnn"], ["bench", "coordinator", "--transport", "quic"], ["status", "--bogus"],
    ]

    @Test(arguments: bad.indices)
    func badFlagsAreUsageErrors(_ i: Int) {
        do {
            _ = try RecurCommand.parseAsRoot(Self.bad[i])
            Issue.record("accepted \(Self.bad[i])")
        } catch {
            #expect(RecurCommand.exitCode(for: error) == ExitCode(64), "\(Self.bad[i]): \(RecurCommand.message(for: error))")
            #expect(!RecurCommand.message(for: error).isEmpty)
        }
    }
}
