import ArgumentParser
import Foundation
import RecurAPI
import RecurSweep

/// `recur trial show ID`.
struct Trial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect trials.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A trial's config, its attempts and a per-epoch table with a sparkline of val MAE.",
            discussion: """
                ID is the trial id (the leaderboard's id column), or with --sweep the trial number in
                that sweep (its trial column).

                Examples:
                  recur trial show 12 --db .recur/recur.db
                  recur trial show 3 --sweep lecture --db .recur/recur.db
                """
        )

        @Argument(help: "Trial id, or with --sweep the trial number.") var id: Int64
        @Option(help: "Read ID as this sweep's trial number.") var sweep: String?
        @OptionGroup var source: ReadOptions

        func run() async throws {
            let reader = try source.reader()
            let t = try await reader.trial(try await reader.trialID(id, sweep: sweep))
            print("sweep \(t.sweep), trial \(t.trial) (id \(t.trialId)): \(Style.state(t.state))")
            print("config: " + t.params.values.keys.sorted().map { "\($0)=\(LeaderboardTable.cell(t.params[$0]))" }.joined(separator: " "))
            let val = t.valMae.map { String(format: "%.3f", $0) } ?? "–"
            let test = t.testMae.map { String(format: "%.3f", $0) } ?? "–"
            let interval = t.valMaeCi95.map { String(format: " (95 %% interval %.3f–%.3f)", $0[0], $0[1]) } ?? ""
            let confirmed = t.confirmed == true ? ", confirmed" : ""
            print("\(t.objective.label) \(val)\(interval) at epoch \(t.bestEpoch.map(String.init) ?? "–"), test MAE \(test)\(confirmed)")
            let runs = t.runs ?? []
            if runs.count > 1 {
                // Each fold × seed scores the trial; refits make its test MAE.
                var table = [["run", "kind", "fold", "seed", "state", t.objective.label, "best epoch", "test MAE"]]
                for r in runs {
                    let kind = r.kind == .refit ? "refit (\(r.epochs ?? 0) epochs)" : r.confirmation ? "confirmation" : "scoring"
                    table.append([
                        "\(r.number)", kind, r.fold.map { "\($0) of \(r.folds)" } ?? (r.kind == .refit ? "all pre-test" : "task split"),
                        "\(r.seedIndex)",
                        r.state.rawValue, r.valMae.map { String(format: "%.3f", $0) } ?? "–", r.bestEpoch.map(String.init) ?? "–",
                        r.testMae.map { String(format: "%.3f", $0) } ?? "–",
                    ])
                }
                print("")
                print(alignedTable(table, numeric: [0, 3, 5, 6, 7]))
            }
            print("")
            var attempts = [["attempt", "worker", "engine", "cpu", "state", "started", "duration", "error"]]
            for a in t.attempts {
                attempts.append([
                    "\(a.number)", a.worker.map { String($0.prefix(8)) } ?? "–", a.engineVersion ?? "–", a.cpuFeatures ?? "–", Style.state(a.state),
                    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: a.startedAt)),
                    a.finishedAt.map { String(format: "%.1f s", $0 - a.startedAt) } ?? "–", a.error.map { String($0.prefix(60)) } ?? "",
                ])
            }
            print(alignedTable(attempts, numeric: [0]))
            for a in t.attempts { if let reason = a.pruneReason { print("attempt \(a.number) pruned: \(reason)") } }
            for a in t.attempts {
                let rows = t.metrics.filter { $0.attempt == a.number }
                guard !rows.isEmpty else { continue }
                let run = runs.count > 1 ? a.run.map { " (run \($0))" } ?? "" : ""
                print("\nattempt \(a.number)\(run): val MAE \(sparkline(rows.map(\.valMae)))")
                var table = [["epoch", "train loss", "val loss", "val MAE", "seconds"]]
                for m in rows {
                    table.append([
                        "\(m.epoch)", String(format: "%.4f", m.trainLoss), String(format: "%.4f", m.valLoss), String(format: "%.3f", m.valMae),
                        String(format: "%.2f", m.seconds),
                    ])
                }
                print(alignedTable(table, numeric: [0, 1, 2, 3, 4]))
            }
        }
    }
}

/// Eight-level bars, low to high.
func sparkline(_ values: [Double]) -> String {
    let bars = Array("▁▂▃▄▅▆▇█")
    guard let lo = values.min(), let hi = values.max() else { return "" }
    return String(values.map { hi > lo ? bars[Int(((($0 - lo) / (hi - lo)) * 7).rounded())] : bars[0] })
}
