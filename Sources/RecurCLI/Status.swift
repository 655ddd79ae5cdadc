import ArgumentParser
import Foundation
import RecurSweep

/// `recur status [SWEEP] [--watch]`.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show sweeps, or one sweep's progress; --watch refreshes until it ends.",
        discussion: "Examples:\n  recur status\n  recur status lecture --watch\n  recur status lecture --db .recur/recur.db"
    )

    @Argument(help: "Sweep name (all sweeps when omitted).") var sweep: String?
    @Flag(help: "Refresh every second until the sweep ends.") var watch = false
    @OptionGroup var source: ReadOptions

    func run() async throws {
        let reader = try source.reader()
        guard let sweep else {
            let all = try await reader.summaries()
            print(all.isEmpty ? "no sweeps" : SweepSummaryTable.render(all))
            return
        }
        while true {
            let s = try await reader.summary(sweep)
            let top = try await reader.leaderboard(sweep, top: 5)
            var text = SweepSummaryTable.render([s]) + "\n\n" + LeaderboardTable.table(top, objective: s.objective)
            // A running sweep with nothing training and no worker asking for work waits for ever:
            // say so, rather than showing "0 running" alone.
            if s.state == .running, s.running == 0, let workers = try? await reader.workers() {
                let now = Date().timeIntervalSince1970
                if !workers.contains(where: { Workers.liveness($0, now: now) != .gone }) {
                    text +=
                        "\n\nno live worker: none has asked for work in the last \(Int(Workers.goneAfter)) s; start one with recur worker --coordinator … (recur workers lists them)"
                }
            }
            if watch && Style.enabled { text = "\u{1B}[H\u{1B}[2J" + text }
            print(text)
            guard watch, s.state == .running || s.state == .paused else { return }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
