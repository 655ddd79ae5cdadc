import Foundation
import Mustache
import RecurAPI
import RecurStore
import RecurSweep

/// The dashboard's HTML pages, rendered on the server from the Mustache templates in
/// `Templates/` (compiled into the binary): the sweep list, a page per sweep (progress, sortable
/// paginated leaderboard, learning curves, parallel coordinates, parameter importance) and a page
/// per trial. The same sweep page, with `standalone`, is `recur report`. This file only turns the
/// store's read models into the values the templates show; the SVG plots come from `SVGPlots`.
public enum Dashboard {
    static let pageSize = 50

    /// The templates, parsed once.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        let templates: [(String, [UInt8])] = [
            ("layout", PackageResources.layout_mustache), ("index", PackageResources.index_mustache),
            ("sweep", PackageResources.sweep_mustache), ("trial", PackageResources.trial_mustache),
            ("login", PackageResources.login_mustache), ("message", PackageResources.message_mustache),
        ]
        for (name, bytes) in templates {
            // The templates ship in the binary, and a test renders every one.
            try! library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        return library
    }()

    /// `content` (already rendered) inside the page layout.
    static func page(_ title: String, refresh: Bool, content: String) -> String {
        struct Layout { let title: String, refresh: Bool, content: String }
        return library.render(Layout(title: title, refresh: refresh, content: content), withTemplate: "layout") ?? content
    }

    static func render(_ template: String, _ view: Any, title: String, refresh: Bool = false) -> String {
        page(title, refresh: refresh, content: library.render(view, withTemplate: template) ?? "")
    }

    static func number(_ value: Double?, _ format: String = "%.3f") -> String { value.map { String(format: format, $0) } ?? "–" }

    /// The parameters a sweep samples on a log scale (`log: true`).
    static func logScaled(_ store: SweepStore, _ name: String) throws -> Set<String> {
        Set(
            try store.sweep(named: name).definitionJson.spec.space.compactMap { p -> String? in
                switch p.domain {
                case .float(_, _, true, _), .int(_, _, true): return p.name
                default: return nil
                }
            }
        )
    }

    /// Skill over persistence as a signed percentage.
    static func skill(_ value: Double?) -> String { value.map { String(format: "%+.1f%%", $0 * 100) } ?? "–" }

    /// A page with a heading and one line (errors).
    static func message(_ title: String, _ message: String) -> String {
        struct Message { let title: String, message: String }
        return render("message", Message(title: title, message: message), title: title)
    }

    /// `/`: every sweep.
    public static func index(store: SweepStore) throws -> String {
        struct Row { let name, path, state, method: String, finished, maxTrials, running: Int, best, objective: String }
        struct Worker { let id, host: String, slots, running: Int, version, engine, cpu, lastSeen: String }
        struct Index { let sweeps: [Row], any: Bool, workers: [Worker], anyWorkers: Bool }
        let sweeps = try store.summaries()
        let now = Date().timeIntervalSince1970
        // Workers seen in the last hour: what runs the sweeps, with the engine each registered.
        let workers = try store.workerInfos().filter { now - $0.lastSeen < 3600 }.map {
            Worker(
                id: String($0.id.prefix(8)),
                host: $0.host,
                slots: $0.slots,
                running: $0.running,
                version: $0.version,
                engine: $0.engineVersion ?? "–",
                cpu: $0.cpuFeatures ?? "–",
                lastSeen: String(format: "%.0f s ago", max(0, now - $0.lastSeen))
            )
        }
        let rows = sweeps.map {
            Row(
                name: $0.name,
                path: API.pathComponent($0.name),
                state: $0.state.rawValue,
                method: $0.method.rawValue,
                finished: $0.completed + $0.pruned + $0.failed,
                maxTrials: $0.maxTrials,
                running: $0.running,
                best: number($0.bestValue),
                objective: $0.objective.label
            )
        }
        return render(
            "index",
            Index(sweeps: rows, any: !rows.isEmpty, workers: workers, anyWorkers: !workers.isEmpty),
            title: "Sweeps",
            refresh: sweeps.contains { $0.state == .running }
        )
    }

    struct Header { let label: String, href: String?, arrow: String, numeric: Bool }
    struct Row {
        let state, rank, trial: String, href: String?, params: [String], value, test, valSkill, testSkill, runs, epochs: String
        var baseline = false
        var confirmed = false
    }
    struct PageLink { let page: Int, href: String, current: Bool }
    struct Pages { let number: Int, count: Int, links: [PageLink] }
    struct Best { let value: String, trial: Int }
    struct Importance { let name: String, rho: String, width: Int }
    struct SweepPage {
        let name: String, barWidth: Int, finished: Int, maxTrials: Int, completed: Int, running: Int, pruned: Int, failed: Int, state: String
        let objective: String, best: Best?, persistence: String?, skill: String?, eta: String?, stop: String?, headers: [Header], rows: [Row]
        let pages: Pages?
        let curves: String
        let points: Int, parallel: String, intervals: String
        let importance: [Importance], anyImportance: Bool
    }

    /// `07:52:10 UTC`.
    static func clockTime(_ unix: Double) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = unix - Date().timeIntervalSince1970 > 86400 ? "yyyy-MM-dd HH:mm 'UTC'" : "HH:mm:ss 'UTC'"
        return f.string(from: Date(timeIntervalSince1970: unix))
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
        let pageCount = max(1, (s.trials + pageSize - 1) / pageSize)
        let current = min(max(1, requestedPage), pageCount)
        let finished = s.completed + s.pruned + s.failed
        let objective = s.objective.label
        let rows = try store.leaderboardPage(
            sweep: name,
            sort: sort,
            descending: descending,
            offset: (current - 1) * pageSize,
            limit: standalone ? 10_000 : pageSize
        )
        let points = try store.trialPoints(sweep: name, limit: 400)
        let parameters = parameterNames(points.map(\.params) + rows.map(\.params))
        let path = API.pathComponent(name)

        func header(_ label: String, _ key: SweepStore.SortColumn?, numeric: Bool = false) -> Header {
            guard let key, !standalone else { return Header(label: label, href: nil, arrow: "", numeric: numeric) }
            let desc = sort == key && !descending ? 1 : 0
            return Header(
                label: label,
                href: "/sweeps/\(path)?sort=\(key.rawValue)&desc=\(desc)",
                arrow: sort == key ? (descending ? " ▼" : " ▲") : "",
                numeric: numeric
            )
        }
        let headers =
            [header("rank", nil, numeric: true), header("trial", .trial, numeric: true)] + parameters.map { header($0, nil) }
            + [
                header(objective, .valMAE, numeric: true), header("test MAE", .testMAE, numeric: true), header("val skill", nil, numeric: true),
                header("test skill", nil, numeric: true), header("runs", nil, numeric: true), header("epochs", .epochs, numeric: true),
                header("state", .state),
            ]
        var rowViews = rows.map { r in
            Row(
                state: r.state.rawValue,
                rank: "\(r.rank)",
                trial: "\(r.trial)",
                href: standalone ? nil : "/trials/\(r.trialId)",
                params: parameters.map { r.params[$0]?.description ?? "" },
                value: r.valCI95.map { String(format: "%.3f ± %.3f", r.value ?? .nan, ($0.high - $0.low) / 2) } ?? number(r.value),
                test: number(r.testMAE),
                valSkill: skill(r.valSkill),
                testSkill: skill(r.testSkill),
                runs: r.runs > 0 ? "\(r.runs)" : "",
                epochs: "\(r.epochs)",
                confirmed: r.confirmed
            )
        }
        // Persistence stands where its val MAE ranks, so the rows above it are the ones that beat it.
        if let p = s.persistence, s.objective == .valMAE, sort == .valMAE, !descending {
            let rank = try store.trialCount(sweep: name, valueAtMost: p.valMAE)
            let at = standalone ? rank : rank - (current - 1) * pageSize
            // On the page where its rank falls; past the last trial, at the end of the last page.
            if at >= 0 && (at < rows.count || (at == rows.count && (current == pageCount || standalone))) {
                let row = Row(
                    state: "baseline",
                    rank: "",
                    trial: "persistence",
                    href: nil,
                    params: parameters.map { _ in "" },
                    value: number(p.valMAE),
                    test: number(p.testMAE),
                    valSkill: skill(0),
                    testSkill: skill(0),
                    runs: "",
                    epochs: "",
                    baseline: true
                )
                rowViews.insert(row, at: at)
            }
        }
        let pages =
            standalone || pageCount < 2
            ? nil
            : Pages(
                number: current,
                count: pageCount,
                links: (1...pageCount).prefix(40).map {
                    PageLink(page: $0, href: "/sweeps/\(path)?sort=\(sort.rawValue)&desc=\(descending ? 1 : 0)&page=\($0)", current: $0 == current)
                }
            )

        let top = points.filter { $0.state == "completed" }.prefix(10)
        let pruned = points.filter { $0.state == "pruned" }.prefix(20)
        let curves = try store.curves(trials: (top + pruned).map(\.trialId))
        let series = (top + pruned).map { (label: "trial \($0.number)", values: curves[$0.trialId] ?? [], pruned: $0.state == "pruned") }
        // Curves plot val MAE, so persistence's val MAE is their reference line.
        // The best trials' means with their intervals: is the winner's lead more than noise?
        let ranked = try store.leaderboard(sweep: name, top: 30).filter { $0.state == .completed && $0.value != nil }
        let intervals = SVGPlots.intervals(
            ranked.map { (label: "\($0.trial)", mean: $0.value!, low: $0.valCI95?.low, high: $0.valCI95?.high, confirmed: $0.confirmed) },
            baseline: s.objective == .valMAE ? s.persistence.map { (label: "persistence", value: $0.valMAE) } : nil,
            yLabel: objective
        )
        let importance = SVGPlots.importance(points, parameters: parameters).map {
            Importance(name: $0.name, rho: String(format: "%.2f", $0.rho), width: Int($0.rho * 200))
        }
        let view = SweepPage(
            name: name,
            barWidth: (s.maxTrials > 0 ? 100 * finished / s.maxTrials : 0) * 4,
            finished: finished,
            maxTrials: s.maxTrials,
            completed: s.completed,
            running: s.running,
            pruned: s.pruned,
            failed: s.failed,
            state: s.state.rawValue,
            objective: objective,
            best: s.bestValue.map { Best(value: String(format: "%.3f", $0), trial: s.bestTrial ?? -1) },
            persistence: s.persistence.map { String(format: "%.3f", $0.valMAE) },
            skill: s.bestValSkill.map { skill($0) },
            // The end time, not the seconds left: it changes only with new reports, so an
            // unchanged page keeps its ETag while polled.
            eta: s.endsAt.map { Self.clockTime($0) },
            stop: s.stopReason.map { (s.state == .running ? "Stopping (running trials finish): " : "Stopped: ") + $0.message },
            headers: headers,
            rows: rowViews,
            pages: pages,
            curves: SVGPlots.learningCurves(series, baseline: s.persistence.map { (label: "persistence", value: $0.valMAE) }),
            points: points.count,
            parallel: SVGPlots.parallelCoordinates(points, parameters: parameters, objective: objective, logScale: try logScaled(store, name)),
            intervals: intervals,
            importance: importance,
            anyImportance: !importance.isEmpty
        )
        return render("sweep", view, title: "Sweep \(name)", refresh: !standalone && s.state == .running)
    }

    /// `/trials/{id}`.
    public static func trial(store: SweepStore, id: Int64) throws -> String {
        struct Config { let name, value: String }
        struct Attempt { let number: Int, run, worker, engine, cpu, state, error: String }
        struct Run { let number: Int, kind, fold, seed, state, value, bestEpoch, test: String }
        struct Epoch { let attempt, epoch: Int, trainLoss, valLoss, valMAE, seconds: String }
        struct TrialPage {
            let trial: Int, sweep, sweepPath, state, objective, value, test: String, config: [Config], curves: String
            let attempts: [Attempt], epochs: [Epoch], runs: [Run], anyRuns: Bool, interval: String?, confirmed: Bool
        }
        let t = try store.trialDetail(id: id)
        let series = t.attempts.filter { a in t.metrics.contains { $0.attempt == a.number } }.map { a in
            (
                label: (a.run.map { "run \($0), " } ?? "") + "attempt \(a.number)", values: t.metrics.filter { $0.attempt == a.number }.map(\.valMAE),
                pruned: a.state != .succeeded && a.state != .running
            )
        }
        let view = TrialPage(
            trial: t.trial,
            sweep: t.sweep,
            sweepPath: API.pathComponent(t.sweep),
            state: t.state.rawValue,
            objective: t.objective.label,
            value: number(t.value),
            test: number(t.testMAE),
            config: t.params.values.keys.sorted().map { Config(name: $0, value: t.params[$0]!.description) },
            curves: SVGPlots.learningCurves(series),
            attempts: t.attempts.map {
                Attempt(
                    number: $0.number,
                    run: $0.run.map(String.init) ?? "–",
                    worker: $0.worker ?? "–",
                    engine: $0.engineVersion ?? "–",
                    cpu: $0.cpuFeatures ?? "–",
                    state: $0.state.rawValue,
                    error: $0.error ?? $0.pruneReason.map { "pruned: \($0)" } ?? ""
                )
            },
            epochs: t.metrics.map {
                Epoch(
                    attempt: $0.attempt,
                    epoch: $0.epoch,
                    trainLoss: String(format: "%.4f", $0.trainLoss),
                    valLoss: String(format: "%.4f", $0.valLoss),
                    valMAE: String(format: "%.3f", $0.valMAE),
                    seconds: String(format: "%.2f", $0.seconds)
                )
            },
            runs: t.runs.map {
                Run(
                    number: $0.number,
                    kind: $0.kind == .refit ? "refit (\($0.epochs ?? 0) epochs)" : $0.confirmation ? "confirmation" : "scoring",
                    fold: $0.fold.map { f in "\(f) of \(t.runs.first?.folds ?? f)" }
                        ?? ($0.kind == .refit ? "all pre-test rows" : "the task's split"),
                    seed: "\($0.seedIndex)",
                    state: $0.state.rawValue,
                    value: number($0.value),
                    bestEpoch: $0.bestEpoch.map(String.init) ?? "–",
                    test: number($0.testMAE)
                )
            },
            anyRuns: t.runs.count > 1,
            interval: t.valCI95.map { String(format: "95 %% interval [%.3f, %.3f]", $0.low, $0.high) },
            confirmed: t.confirmed
        )
        return render("trial", view, title: "Trial \(t.trial)", refresh: t.state == .running)
    }

    /// The sign-in form; after signing in the browser goes to `next` (a local path).
    public static func login(next: String = "/", wrong: Bool = false, expired: Bool = false) -> String {
        struct Login { let next: String, wrong: Bool, expired: Bool }
        return render("login", Login(next: next, wrong: wrong, expired: expired), title: "Sign in")
    }

    static func parameterNames(_ configs: [TrialConfig]) -> [String] {
        var names = Set<String>()
        for c in configs { names.formUnion(c.values.keys) }
        let preferred = ["cell", "depth", "units", "bidirectional", "dropout", "recurrent_dropout", "learning_rate", "batch_size"]
        return names.sorted { (preferred.firstIndex(of: $0) ?? 99, $0) < (preferred.firstIndex(of: $1) ?? 99, $1) }
    }
}
