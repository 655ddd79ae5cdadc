import Foundation
import RecurAPI
import RecurSweep

/// Renders leaderboard rows as an aligned table, JSON or CSV (formats documented in the README).
enum LeaderboardTable {
    static func parameterNames(_ rows: [API.LeaderboardRow]) -> [String] {
        var names: [String] = []
        for row in rows { for key in row.params.values.keys.sorted() where !names.contains(key) { names.append(key) } }
        let preferred = ["cell", "depth", "units", "bidirectional", "dropout", "recurrent_dropout", "learning_rate", "batch_size"]
        return names.sorted { (preferred.firstIndex(of: $0) ?? 99, $0) < (preferred.firstIndex(of: $1) ?? 99, $1) }
    }

    static func cell(_ v: ParameterValue?) -> String {
        guard let v else { return "" }
        if case .double(let d) = v { return d < 0.01 && d > 0 ? String(format: "%.2e", d) : String(format: "%.3g", d) }
        return v.description
    }

    /// Skill over persistence as a signed percentage (`+12.3%`), or `–`.
    static func skill(_ value: Double?) -> String { value.map { String(format: "%+.1f%%", $0 * 100) } ?? "–" }

    /// A score with its 95 % interval's half-width (`2.345 ± 0.120`), or alone for one run.
    static func score(_ r: API.LeaderboardRow) -> String {
        guard let v = r.valMae else { return "–" }
        guard let ci = r.valMaeCi95, ci.count == 2 else { return String(format: "%.3f", v) }
        return String(format: "%.3f ± %.3f", v, (ci[1] - ci[0]) / 2)
    }

    /// `objective` is the sweep's, which the `val` column holds (the mean over a trial's runs,
    /// ± the 95 % interval's half-width). Skill columns (1 − MAE ÷ persistence's MAE) appear when
    /// the sweep knows its baselines; `runs` and `confirmed` when trials have several runs.
    static func table(_ rows: [API.LeaderboardRow], unit: String = "", objective: API.Objective = .valMae) -> String {
        let params = parameterNames(rows)
        let val = objective == .valLoss ? "val loss" : "val MAE\(unit)"
        let skills = rows.contains { $0.testSkill != nil || $0.valSkill != nil }
        let robust = rows.contains { ($0.runs ?? 0) > 1 }
        let confirmation = rows.contains { $0.confirmed == true }
        let header =
            ["rank", "trial", "id"] + params + [val, "test MAE\(unit)"] + (skills ? ["val skill", "test skill"] : []) + (robust ? ["runs"] : [])
            + (confirmation ? ["confirmed"] : []) + ["epochs", "state", "time", "worker"]
        var lines: [[String]] = [header]
        for r in rows {
            let head: [String] = ["\(r.rank)", "\(r.trial)", "\(r.trialId)"]
            let values: [String] = params.map { cell(r.params[$0]) }
            let val = score(r)
            let test: String = r.testMae.map { String(format: "%.3f", $0) } ?? "–"
            let time: String = r.durationS.map { String(format: "%.1f s", $0) } ?? "–"
            let worker: String = r.worker.map { String($0.prefix(8)) } ?? "–"
            let skill = skills ? [Self.skill(r.valSkill), Self.skill(r.testSkill)] : []
            let runs = robust ? ["\(r.runs ?? 0)"] : []
            let confirmed = confirmation ? [r.confirmed == true ? "yes" : ""] : []
            lines.append(head + values + [val, test] + skill + runs + confirmed + ["\(r.epochs)", r.state.rawValue, time, worker])
        }
        let widths = (0..<header.count).map { c in lines.map { $0[c].count }.max() ?? 0 }
        let numericCount = 2 + (skills ? 2 : 0) + (robust ? 1 : 0)
        let numeric = Set([0, 1, 2] + (0..<numericCount).map { 3 + params.count + $0 })
        return lines.map { line in
            line.enumerated().map { c, text in
                let pad = String(repeating: " ", count: widths[c] - text.count)
                return numeric.contains(c) ? pad + text : text + pad
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func csv(_ rows: [API.LeaderboardRow]) -> String {
        let params = parameterNames(rows)
        func esc(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"\(s.replacingOccurrences(of: "\"", with: "\"\""))\"" : s }
        var out =
            (["rank", "trial", "trial_id"] + params + [
                "val_mae", "test_mae", "epochs", "state", "pruned", "duration_s", "worker", "val_skill", "test_skill", "val_mae_sd",
                "val_mae_ci95_low", "val_mae_ci95_high", "runs", "confirmed",
            ]).joined(separator: ",") + "\n"
        for r in rows {
            let head: [String] = ["\(r.rank)", "\(r.trial)", "\(r.trialId)"]
            let values: [String] = params.map { r.params[$0]?.description ?? "" }
            let scores: [String] = [
                r.valMae.map { String($0) } ?? "", r.testMae.map { String($0) } ?? "", "\(r.epochs)", r.state.rawValue, "\(r.pruned)",
            ]
            let tail: [String] = [
                r.durationS.map { String(format: "%.3f", $0) } ?? "", r.worker ?? "", r.valSkill.map { String($0) } ?? "",
                r.testSkill.map { String($0) } ?? "", r.valMaeSd.map { String($0) } ?? "", r.valMaeCi95?.first.map { String($0) } ?? "",
                r.valMaeCi95?.last.map { String($0) } ?? "", r.runs.map { "\($0)" } ?? "", r.confirmed.map { "\($0)" } ?? "",
            ]
            let fields = head + values + scores + tail
            out += fields.map(esc).joined(separator: ",") + "\n"
        }
        return out
    }

    static func json(_ rows: [API.LeaderboardRow]) throws -> String {
        let encoder = API.encoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return String(decoding: try encoder.encode(rows), as: UTF8.self)
    }
}
