import ArgumentParser
import Foundation
import RecurAPI
import RecurSweep

extension Sweep {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List sweeps with their progress and best validation MAE.",
            discussion: "Examples:\n  recur sweep list\n  recur sweep list --db .recur/recur.db"
        )

        @OptionGroup var source: ReadOptions

        func run() async throws {
            let sweeps = try await source.reader().summaries()
            if sweeps.isEmpty {
                print("no sweeps")
                return
            }
            print(SweepSummaryTable.render(sweeps))
        }
    }
}

enum SweepSummaryTable {
    static func render(_ sweeps: [API.SweepSummary]) -> String {
        var rows = [
            ["sweep", "state", "method", "done", "running", "pruned", "failed", "best", "objective", "best trial", "persistence", "skill", "ETA"]
        ]
        for s in sweeps {
            rows.append([
                s.name, Style.state(s.state), s.method.rawValue, "\(s.completed + s.pruned + s.failed)/\(s.maxTrials)", "\(s.running)", "\(s.pruned)",
                "\(s.failed)",
                s.bestValMae.map { String(format: "%.3f", $0) } ?? "–", s.objective.label, s.bestTrial.map { String($0) } ?? "–",
                s.persistenceValMae.map { String(format: "%.3f", $0) } ?? "–", LeaderboardTable.skill(s.bestValSkill),
                s.etaSeconds.map(Sweep.Plan.duration) ?? "–",
            ])
        }
        let reasons = sweeps.compactMap { s in s.stopReason.map { "\(s.name): " + stopLine($0, state: s.state) } }
        return alignedTable(rows, numeric: [3, 4, 5, 6, 7, 9, 10, 11, 12]) + (reasons.isEmpty ? "" : "\n" + reasons.joined(separator: "\n"))
    }

    /// "stopped: target reached: …", or "stopping, running trials finish: …".
    static func stopLine(_ reason: API.StopReason, state: API.SweepState) -> String {
        (state == .running ? "stopping, running trials finish: " : "stopped: ") + reason.message
    }
}
