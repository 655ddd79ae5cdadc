import ArgumentParser
import Foundation

/// `recur leaderboard SWEEP`.
struct Leaderboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trials ranked by best validation MAE, with test MAE, epochs, pruning, duration and worker.",
        discussion: """
            Formats: table (aligned, for people), json (array of rows: rank, trial, trial_id, params,
            val_mae, test_mae, val_skill, test_skill, epochs, state, pruned, duration_s, worker, runs,
            confirmed, and with several scoring runs val_mae_sd and val_mae_ci95), csv (one column per parameter).

            Examples:
              recur leaderboard lecture --top 10
              recur leaderboard lecture --db .recur/recur.db --format csv > lecture.csv
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    @Argument(help: "Sweep name.") var sweep: String
    @Option(help: "Rows to show (all when omitted).") var top: Int?
    @Option(help: "table, json or csv.") var format: Format = .table
    @OptionGroup var source: ReadOptions

    func validate() throws {
        if let top, top < 1 { throw ValidationError("--top: \(top) must be ≥ 1") }
    }

    func run() async throws {
        let reader = try source.reader()
        let rows = try await reader.leaderboard(sweep, top: top)
        switch format {
        case .table:
            print(
                rows.isEmpty ? "sweep \(sweep) has no trials yet" : LeaderboardTable.table(rows, objective: try await reader.summary(sweep).objective)
            )
        case .json: print(try LeaderboardTable.json(rows))
        case .csv: print(LeaderboardTable.csv(rows), terminator: "")
        }
    }
}
