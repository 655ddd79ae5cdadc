import Foundation
import RecurAPI
import RecurStore
import RecurSweep

/// The dashboard's HTML pages, rendered on the server: the sweep list, a page per sweep
/// (progress, sortable paginated leaderboard, learning curves, parallel coordinates, parameter
/// importance) and a page per trial. The same sweep page, with `standalone`, is `recur report`.
public enum Dashboard {
    static let pageSize = 50

    static func page(_ title: String, refresh: Bool, _ body: String) -> String {
        """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>\(SVGPlots.escape(title)) — Recur</title>
        \(refresh ? "<meta http-equiv=\"refresh\" content=\"5\">" : "")
        <style>
        body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
        table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}
        td.num,th.num{text-align:right}th a{color:#222}.state-pruned{color:#999}.state-failed{color:#c00}.state-running{color:#06c}
        .bar{background:#eee;height:12px;width:400px;display:inline-block}.bar>span{background:#4a4;height:12px;display:inline-block}
        h2{margin-top:28px}.empty{color:#888}.imp{display:inline-block;background:#69c;height:10px}
        </style></head><body><p><a href="/">Recur</a></p>\(body)</body></html>
        """
    }

    /// `/`: every sweep.
    public static func index(store: SweepStore) throws -> String {
        let sweeps = try store.summaries()
        var rows = ""
        for s in sweeps {
            rows +=
                "<tr><td><a href=\"/sweeps/\(API.pathComponent(s.name))\">\(SVGPlots.escape(s.name))</a></td><td class=\"state-\(s.state.rawValue)\">\(s.state.rawValue)</td><td>\(s.method.rawValue)</td>"
            rows += "<td class=\"num\">\(s.completed + s.pruned + s.failed)/\(s.maxTrials)</td><td class=\"num\">\(s.running)</td>"
            rows += "<td class=\"num\">\(s.bestValue.map { String(format: "%.3f", $0) } ?? "–")</td><td>\(s.objective.label)</td></tr>"
        }
        let table =
            sweeps.isEmpty
            ? "<p class=\"empty\">no sweeps yet</p>"
            : "<table id=\"sweeps\"><tr><th>sweep</th><th>state</th><th>method</th><th class=\"num\">finished</th><th class=\"num\">running</th><th class=\"num\">best</th><th>objective</th></tr>\(rows)</table>"
        return page("Sweeps", refresh: sweeps.contains { $0.state == .running }, "<h1>Sweeps</h1>\(table)")
    }

    /// `/sweeps/{name}`.
    public static func sweep(
        store: SweepStore,
        name: String,
        sort: SweepStore.SortColumn = .valMAE,
        descending: Bool = false,
        page requestedPage: Int = 1,
        standalone: Bool = false
    ) throws -> String {
        let s = try store.summary(named: name)
        let number = min(max(1, requestedPage), max(1, (s.trials + pageSize - 1) / pageSize))
        let finished = s.completed + s.pruned + s.failed
        let percent = s.maxTrials > 0 ? 100 * finished / s.maxTrials : 0
        var body = "<h1>Sweep \(SVGPlots.escape(name))</h1>"
        body +=
            "<p id=\"progress\"><span class=\"bar\"><span style=\"width:\(percent * 4)px\"></span></span> \(finished)/\(s.maxTrials) trials finished · "
        body +=
            "\(s.completed) completed, \(s.running) running, \(s.pruned) pruned, \(s.failed) failed · <span class=\"state-\(s.state.rawValue)\">\(s.state.rawValue)</span>"
        let objective = s.objective.label
        if let best = s.bestValue { body += " · best \(objective) \(String(format: "%.3f", best)) (trial \(s.bestTrial ?? -1))" }
        body += "</p>"

        let rows = try store.leaderboardPage(
            sweep: name,
            sort: sort,
            descending: descending,
            offset: (number - 1) * pageSize,
            limit: standalone ? 10_000 : pageSize
        )
        let points = try store.trialPoints(sweep: name, limit: 400)
        let parameters = parameterNames(points.map(\.params) + rows.map(\.params))
        body +=
            "<h2>Leaderboard</h2>"
            + leaderboard(rows, parameters: parameters, name: name, sort: sort, descending: descending, standalone: standalone, objective: objective)
        if !standalone {
            let pages = max(1, (s.trials + pageSize - 1) / pageSize)
            if pages > 1 {
                body +=
                    "<p id=\"pages\">page \(number) of \(pages): "
                    + (1...pages).prefix(40).map {
                        $0 == number
                            ? "<b>\($0)</b>"
                            : "<a href=\"/sweeps/\(API.pathComponent(name))?sort=\(sort.rawValue)&desc=\(descending ? 1 : 0)&page=\($0)\">\($0)</a>"
                    }.joined(separator: " ") + "</p>"
            }
        }

        let top = points.filter { $0.state == "completed" }.prefix(10)
        let pruned = points.filter { $0.state == "pruned" }.prefix(20)
        let curves = try store.curves(trials: (top + pruned).map(\.trialId))
        let series = (top + pruned).map { (label: "trial \($0.number)", values: curves[$0.trialId] ?? [], pruned: $0.state == "pruned") }
        body += "<h2>Learning curves</h2><p>Validation MAE per epoch: the ten best completed trials in colour, pruned trials in grey.</p>"
        body += SVGPlots.learningCurves(series)
        body +=
            "<h2>Parallel coordinates</h2><p>The best \(points.count) finished trials, from hyperparameters to \(objective) (green is better; pruned faded).</p>"
        body += SVGPlots.parallelCoordinates(points, parameters: parameters, objective: objective)
        body +=
            "<h2>Parameter importance</h2><p>|Spearman rank correlation| between each parameter and \(objective) over those trials (categories coded by their mean rank) — a screening statistic, not fANOVA.</p>"
        let importance = SVGPlots.importance(points, parameters: parameters)
        if importance.isEmpty {
            body += "<p class=\"empty\">needs at least three finished trials</p>"
        } else {
            body +=
                "<table id=\"importance\">"
                + importance.map {
                    "<tr><td>\(SVGPlots.escape($0.name))</td><td class=\"num\">\(String(format: "%.2f", $0.rho))</td><td><span class=\"imp\" style=\"width:\(Int($0.rho * 200))px\"></span></td></tr>"
                }.joined() + "</table>"
        }
        return page("Sweep \(name)", refresh: !standalone && s.state == .running, body)
    }

    static func leaderboard(
        _ rows: [LeaderboardRow],
        parameters: [String],
        name: String,
        sort: SweepStore.SortColumn,
        descending: Bool,
        standalone: Bool,
        objective: String = "val MAE"
    ) -> String {
        func header(_ label: String, _ key: SweepStore.SortColumn?, numeric: Bool = false) -> String {
            let cls = numeric ? " class=\"num\"" : ""
            guard let key, !standalone else { return "<th\(cls)>\(label)</th>" }
            let desc = sort == key && !descending ? 1 : 0
            return
                "<th\(cls)><a href=\"/sweeps/\(API.pathComponent(name))?sort=\(key.rawValue)&desc=\(desc)\">\(label)\(sort == key ? (descending ? " ▼" : " ▲") : "")</a></th>"
        }
        var html = "<table id=\"leaderboard\"><tr>" + header("rank", nil, numeric: true) + header("trial", .trial, numeric: true)
        html += parameters.map { "<th>\(SVGPlots.escape($0))</th>" }.joined()
        html +=
            header(objective, .valMAE, numeric: true) + header("test MAE", .testMAE, numeric: true) + header("epochs", .epochs, numeric: true)
            + header("state", .state) + "</tr>"
        for r in rows {
            let trial = standalone ? "\(r.trial)" : "<a href=\"/trials/\(r.trialId)\">\(r.trial)</a>"
            html += "<tr class=\"state-\(r.state.rawValue)\"><td class=\"num\">\(r.rank)</td><td class=\"num\">\(trial)</td>"
            html += parameters.map { "<td>\(SVGPlots.escape(r.params[$0]?.description ?? ""))</td>" }.joined()
            html +=
                "<td class=\"num\">\(r.value.map { String(format: "%.3f", $0) } ?? "–")</td><td class=\"num\">\(r.testMAE.map { String(format: "%.3f", $0) } ?? "–")</td>"
            html += "<td class=\"num\">\(r.epochs)</td><td>\(r.state.rawValue)</td></tr>"
        }
        return html + "</table>"
    }

    /// `/trials/{id}`.
    public static func trial(store: SweepStore, id: Int64) throws -> String {
        let t = try store.trialDetail(id: id)
        var body = "<h1>Trial \(t.trial) of <a href=\"/sweeps/\(API.pathComponent(t.sweep))\">\(SVGPlots.escape(t.sweep))</a></h1>"
        body +=
            "<p id=\"trial-state\">\(t.state.rawValue) · best \(t.objective.label) \(t.value.map { String(format: "%.3f", $0) } ?? "–") · test MAE \(t.testMAE.map { String(format: "%.3f", $0) } ?? "–")</p>"
        body +=
            "<table id=\"config\">"
            + t.params.values.keys.sorted().map { "<tr><td>\(SVGPlots.escape($0))</td><td>\(SVGPlots.escape(t.params[$0]!.description))</td></tr>" }
            .joined() + "</table>"
        let series = t.attempts.map { a in
            (
                label: "attempt \(a.number)", values: t.metrics.filter { $0.attempt == a.number }.map(\.valMAE),
                pruned: a.state != .succeeded && a.state != .running
            )
        }
        body += "<h2>Learning curve</h2>" + SVGPlots.learningCurves(series)
        body += "<h2>Attempts</h2><table id=\"attempts\"><tr><th>attempt</th><th>worker</th><th>state</th><th>error</th></tr>"
        body +=
            t.attempts.map {
                "<tr><td>\($0.number)</td><td>\(SVGPlots.escape($0.worker ?? "–"))</td><td>\($0.state.rawValue)</td><td>\(SVGPlots.escape($0.error ?? ""))</td></tr>"
            }.joined() + "</table>"
        body +=
            "<h2>Epochs</h2><table id=\"epochs\"><tr><th>attempt</th><th class=\"num\">epoch</th><th class=\"num\">train loss</th><th class=\"num\">val loss</th><th class=\"num\">val MAE</th><th class=\"num\">seconds</th></tr>"
        body +=
            t.metrics.map {
                "<tr><td>\($0.attempt)</td><td class=\"num\">\($0.epoch)</td><td class=\"num\">\(String(format: "%.4f", $0.trainLoss))</td><td class=\"num\">\(String(format: "%.4f", $0.valLoss))</td><td class=\"num\">\(String(format: "%.3f", $0.valMAE))</td><td class=\"num\">\(String(format: "%.2f", $0.seconds))</td></tr>"
            }.joined() + "</table>"
        return page("Trial \(t.trial)", refresh: t.state == .running, body)
    }

    /// The sign-in form; after signing in the browser goes to `next` (a local path).
    public static func login(next: String = "/", wrong: Bool = false) -> String {
        page(
            "Sign in",
            refresh: false,
            """
            <h1>Sign in</h1>\(wrong ? "<p class=\"error\">That token is wrong.</p>" : "")<form method="post" action="/login">\
            <input type="hidden" name="next" value="\(SVGPlots.escape(next))"><label>Token <input id="token" name="token" type="password" autofocus></label>
            <button type="submit">Sign in</button></form><p>The token is in the file beside the coordinator's database (<code>&lt;db&gt;.token</code>).</p>
            """
        )
    }

    static func parameterNames(_ configs: [TrialConfig]) -> [String] {
        var names = Set<String>()
        for c in configs { names.formUnion(c.values.keys) }
        let preferred = ["cell", "depth", "units", "bidirectional", "dropout", "recurrent_dropout", "learning_rate", "batch_size"]
        return names.sorted { (preferred.firstIndex(of: $0) ?? 99, $0) < (preferred.firstIndex(of: $1) ?? 99, $1) }
    }
}
