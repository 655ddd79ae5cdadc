import Foundation
import RecurStore
import RecurSweep

/// Server-side SVG plots for the dashboard (no JavaScript, no CDN).
enum SVGPlots {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    /// Val MAE per epoch; completed trials coloured and named in a legend, pruned ones grey.
    /// `baseline`: a reference value drawn as a dashed line (persistence's val MAE). The y-range
    /// covers the useful part: up to a little above the 90th percentile of all values, so one
    /// diverging curve does not flatten the others; what lies above is drawn at
    /// the top edge, and the plot says so.
    static func learningCurves(
        _ curves: [(label: String, values: [Double], pruned: Bool)],
        baseline: (label: String, value: Double)? = nil,
        width: Double = 760,
        height: Double = 300
    ) -> String {
        let all = curves.flatMap(\.values).filter(\.isFinite)
        guard let lo0 = all.min(), let max0 = all.max(), let epochs = curves.map(\.values.count).max(), epochs > 0 else {
            return "<p class=\"empty\">no epochs reported yet</p>"
        }
        let sorted = all.sorted()
        let q90 = sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * 0.9))]
        var lo = lo0
        var hi = min(max0, q90 + (q90 - lo0) * 0.25)
        // A baseline below every curve widens the range (the curves do not reach it); one far above
        // them does not (its line sits on the top edge, its value in the legend).
        if let v = baseline?.value, v.isFinite { lo = min(lo, v) }
        if hi <= lo { hi = lo + 1 }
        let clipped = max0 > hi
        let (l, r, t, b) = (56.0, 150.0, 12.0, 36.0)
        let span = hi - lo
        func x(_ e: Int) -> Double { l + (width - l - r) * (epochs > 1 ? Double(e) / Double(epochs - 1) : 0.5) }
        func y(_ v: Double) -> Double { t + (height - t - b) * (1 - (min(v, hi) - lo) / span) }
        var svg =
            "<svg class=\"plot\" id=\"learning-curves\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"learning curves\">"
        svg += axes(l: l, r: r, t: t, b: b, width: width, height: height, xLabel: "epoch", yLabel: "val MAE", yLo: lo, yHi: hi)
        // Epoch ticks, at most ten.
        let every = max(1, Int((Double(epochs) / 10).rounded(.up)))
        for e in stride(from: 0, to: epochs, by: every) {
            svg += "<line x1=\"\(f(x(e)))\" y1=\"\(f(height - b))\" x2=\"\(f(x(e)))\" y2=\"\(f(height - b + 4))\" stroke=\"#333\"/>"
            svg += "<text class=\"tick\" x=\"\(f(x(e)))\" y=\"\(f(height - b + 14))\" text-anchor=\"middle\" font-size=\"10\">\(e + 1)</text>"
        }
        if clipped {
            svg +=
                "<text x=\"\(f(l + 4))\" y=\"\(f(t + 10))\" font-size=\"10\" fill=\"#a00\">values above \(String(format: "%.3g", hi)) drawn at the top</text>"
        }
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f"]
        var legend: [(label: String, color: String, dashed: Bool)] = []
        for (i, c) in curves.enumerated().sorted(by: { $0.element.pruned && !$1.element.pruned }) {
            let points = c.values.enumerated().filter { $0.element.isFinite }.map { "\(f(x($0.offset))),\(f(y($0.element)))" }.joined(separator: " ")
            let color = c.pruned ? "#c8c8c8" : palette[i % palette.count]
            svg +=
                "<polyline class=\"\(c.pruned ? "curve pruned" : "curve")\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(c.pruned ? 1 : 2)\" points=\"\(points)\"><title>\(escape(c.label))</title></polyline>"
            if !c.pruned { legend.append((c.label, color, false)) }
        }
        if curves.contains(where: \.pruned) { legend.append(("pruned", "#c8c8c8", false)) }
        if let baseline {
            let at = f(y(baseline.value))
            svg +=
                "<line class=\"baseline\" x1=\"\(f(l))\" x2=\"\(f(width - r))\" y1=\"\(at)\" y2=\"\(at)\" stroke=\"#555\" stroke-dasharray=\"6 4\"><title>\(escape(baseline.label)) \(String(format: "%.3f", baseline.value))</title></line>"
            legend.append(("\(baseline.label) \(String(format: "%.3f", baseline.value))", "#555", true))
        }
        // The legend names each coloured curve, in the right margin.
        for (k, item) in legend.prefix(Int((height - t) / 15)).enumerated() {
            let ly = t + 8 + Double(k) * 15
            let lx = width - r + 12
            svg +=
                "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 18))\" y2=\"\(f(ly))\" stroke=\"\(item.color)\" stroke-width=\"2\"\(item.dashed ? " stroke-dasharray=\"4 3\"" : "")/>"
            svg += "<text class=\"legend\" x=\"\(f(lx + 24))\" y=\"\(f(ly + 4))\" font-size=\"11\">\(escape(item.label))</text>"
        }
        return svg + "</svg>"
    }

    /// The best trials' scores with their 95 % intervals as error bars, in leaderboard order;
    /// confirmed trials filled, the baseline (persistence) a dashed line. One-run trials have no
    /// bar. The y-range is clipped like the learning curves'.
    static func intervals(
        _ items: [(label: String, mean: Double, low: Double?, high: Double?, confirmed: Bool)],
        baseline: (label: String, value: Double)? = nil,
        yLabel: String = "val MAE",
        width: Double = 760,
        height: Double = 240
    ) -> String {
        let items = items.filter(\.mean.isFinite)
        guard !items.isEmpty else { return "<p class=\"empty\">no trial has finished yet</p>" }
        let lows = items.map { $0.low ?? $0.mean }
        let highs = items.map { $0.high ?? $0.mean }.sorted()
        var lo = lows.min()!
        let q90 = highs[min(highs.count - 1, Int(Double(highs.count - 1) * 0.9))]
        var hi = min(highs.last!, q90 + (q90 - lo) * 0.25)
        if let v = baseline?.value, v.isFinite {
            lo = min(lo, v)
            hi = max(hi, v)
        }
        if hi <= lo { hi = lo + 1 }
        let (l, r, t, b) = (56.0, 150.0, 12.0, 36.0)
        func x(_ i: Int) -> Double { l + (width - l - r) * (Double(i) + 0.5) / Double(items.count) }
        func y(_ v: Double) -> Double { t + (height - t - b) * (1 - (min(max(v, lo), hi) - lo) / (hi - lo)) }
        var svg =
            "<svg class=\"plot\" id=\"intervals\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"scores with 95 % intervals\">"
        svg += axes(l: l, r: r, t: t, b: b, width: width, height: height, xLabel: "trial, in leaderboard order", yLabel: yLabel, yLo: lo, yHi: hi)
        if let baseline {
            let at = f(y(baseline.value))
            svg +=
                "<line class=\"baseline\" x1=\"\(f(l))\" x2=\"\(f(width - r))\" y1=\"\(at)\" y2=\"\(at)\" stroke=\"#555\" stroke-dasharray=\"6 4\"><title>\(escape(baseline.label)) \(String(format: "%.3f", baseline.value))</title></line>"
            svg +=
                "<text class=\"legend\" x=\"\(f(width - r + 12))\" y=\"\(f(y(baseline.value) + 4))\" font-size=\"11\">\(escape(baseline.label)) \(String(format: "%.3f", baseline.value))</text>"
        }
        for (i, item) in items.enumerated() {
            let cx = f(x(i))
            let interval = item.low.flatMap { l in item.high.map { (l, $0) } }
            let tip =
                interval.map { String(format: "%@: %.3f [%.3f, %.3f]", item.label, item.mean, $0.0, $0.1) }
                ?? String(format: "%@: %.3f", item.label, item.mean)
            if let (low, high) = interval {
                svg +=
                    "<line class=\"errorbar\" x1=\"\(cx)\" x2=\"\(cx)\" y1=\"\(f(y(low)))\" y2=\"\(f(y(high)))\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>"
                for v in [low, high] {
                    svg +=
                        "<line x1=\"\(f(x(i) - 4))\" x2=\"\(f(x(i) + 4))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>"
                }
            }
            svg +=
                "<circle class=\"score\(item.confirmed ? " confirmed" : "")\" cx=\"\(cx)\" cy=\"\(f(y(item.mean)))\" r=\"4\" fill=\"\(item.confirmed ? "#1f77b4" : "#fff")\" stroke=\"#1f77b4\" stroke-width=\"1.5\"><title>\(escape(tip))</title></circle>"
            if items.count <= 30 {
                svg +=
                    "<text class=\"tick\" x=\"\(cx)\" y=\"\(f(height - b + 14))\" text-anchor=\"middle\" font-size=\"10\">\(escape(item.label))</text>"
            }
        }
        if items.contains(where: \.confirmed) {
            svg += "<circle cx=\"\(f(width - r + 18))\" cy=\"\(f(t + 8))\" r=\"4\" fill=\"#1f77b4\"/>"
            svg += "<text class=\"legend\" x=\"\(f(width - r + 28))\" y=\"\(f(t + 12))\" font-size=\"11\">confirmed</text>"
        }
        return svg + "</svg>"
    }

    /// One vertical axis per parameter and one for the objective (val MAE or val loss); one line
    /// per trial, coloured by the objective.
    static func parallelCoordinates(
        _ points: [SweepStore.TrialPoint],
        parameters: [String],
        objective: String = "val MAE",
        logScale: Set<String> = [],
        width: Double = 760,
        height: Double = 320
    ) -> String {
        let scored = points.filter { $0.valMae != nil }
        guard !scored.isEmpty, !parameters.isEmpty else { return "<p class=\"empty\">no finished trials yet</p>" }
        let axes = parameters + [objective]
        let (l, r, t, b) = (40.0, 60.0, 20.0, 46.0)
        func ax(_ i: Int) -> Double { l + (width - l - r) * Double(i) / Double(max(1, axes.count - 1)) }
        // Each parameter maps to [0, 1]: numbers by range (log when positive over a decade), categories by index.
        var scales: [(ParameterValue?) -> Double?] = []
        var tickText: [(lo: String, hi: String)] = []
        for name in parameters {
            let values = scored.compactMap { $0.params[name] }
            let numbers = values.compactMap { v -> Double? in
                if case .list(let l) = v { return l.compactMap(\.doubleValue).reduce(0, +) / Double(max(1, l.count)) }
                return v.doubleValue
            }
            if numbers.count == values.count, let lo = numbers.min(), let hi = numbers.max() {
                // Log where the sweep samples on a log scale (`log: true`), or the values span decades.
                let useLog = lo > 0 && (logScale.contains(name) || hi / lo > 100)
                let (a, z) = useLog ? (log(lo), log(hi)) : (lo, hi)
                scales.append { v in
                    guard let v else { return nil }
                    var x: Double?
                    if case .list(let l) = v { x = l.compactMap(\.doubleValue).reduce(0, +) / Double(max(1, l.count)) } else { x = v.doubleValue }
                    guard let x else { return nil }
                    return z > a ? ((useLog ? log(x) : x) - a) / (z - a) : 0.5
                }
                tickText.append((String(format: "%.3g", lo), String(format: "%.3g", hi)))
            } else {
                let categories = Array(Set(values.map(\.description))).sorted()
                scales.append { v in
                    v.flatMap { categories.firstIndex(of: $0.description) }.map {
                        categories.count > 1 ? Double($0) / Double(categories.count - 1) : 0.5
                    }
                }
                tickText.append((categories.first ?? "", categories.last ?? ""))
            }
        }
        let maes = scored.compactMap(\.valMae)
        let lo = maes.min()!
        let hi = maes.max()!
        var svg =
            "<svg class=\"plot\" id=\"parallel-coordinates\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"parallel coordinates\">"
        func y(_ u: Double) -> Double { t + (height - t - b) * (1 - u) }
        for p in scored.reversed() {
            let u = hi > lo ? (p.valMae! - lo) / (hi - lo) : 0
            var coords: [String] = []
            for (i, name) in parameters.enumerated() { if let v = scales[i](p.params[name]) { coords.append("\(f(ax(i))),\(f(y(v)))") } }
            coords.append("\(f(ax(axes.count - 1))),\(f(y(1 - u)))")
            let color = "hsl(\(Int(120 * (1 - u))), 70%, 45%)"
            svg +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-opacity=\"\(p.state == "pruned" ? 0.25 : 0.7)\" points=\"\(coords.joined(separator: " "))\"><title>trial \(p.number): \(String(format: "%.3f", p.valMae!))</title></polyline>"
        }
        for (i, name) in axes.enumerated() {
            svg += "<line x1=\"\(f(ax(i)))\" y1=\"\(f(t))\" x2=\"\(f(ax(i)))\" y2=\"\(f(height - b))\" stroke=\"#333\"/>"
            // Names alternate between two rows, so neighbours never overlap.
            svg +=
                "<text class=\"axis-name\" x=\"\(f(ax(i)))\" y=\"\(f(height - b + 16 + Double(i % 2) * 14))\" text-anchor=\"middle\" font-size=\"11\">\(escape(name))</text>"
            // The val MAE axis has the best (lowest) value on top.
            let ticks: (lo: String, hi: String) =
                i < parameters.count ? tickText[i] : (lo: String(format: "%.3g", hi), hi: String(format: "%.3g", lo))
            svg += "<text x=\"\(f(ax(i) + 3))\" y=\"\(f(t + 8))\" font-size=\"9\" fill=\"#555\">\(escape(ticks.hi))</text>"
            svg += "<text x=\"\(f(ax(i) + 3))\" y=\"\(f(height - b - 2))\" font-size=\"9\" fill=\"#555\">\(escape(ticks.lo))</text>"
        }
        return svg + "</svg>"
    }

    static func axes(
        l: Double,
        r: Double,
        t: Double,
        b: Double,
        width: Double,
        height: Double,
        xLabel: String,
        yLabel: String,
        yLo: Double,
        yHi: Double
    ) -> String {
        var s = "<line x1=\"\(f(l))\" y1=\"\(f(height - b))\" x2=\"\(f(width - r))\" y2=\"\(f(height - b))\" stroke=\"#333\"/>"
        s += "<line x1=\"\(f(l))\" y1=\"\(f(t))\" x2=\"\(f(l))\" y2=\"\(f(height - b))\" stroke=\"#333\"/>"
        s += "<text x=\"\(f((l + width - r) / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" font-size=\"11\">\(xLabel)</text>"
        // Five ticks on the value axis, with the axis name beside it.
        for k in 0...4 {
            let v = yLo + (yHi - yLo) * Double(k) / 4
            let at = height - b - (height - b - t) * Double(k) / 4
            s += "<line x1=\"\(f(l - 4))\" y1=\"\(f(at))\" x2=\"\(f(l))\" y2=\"\(f(at))\" stroke=\"#333\"/>"
            s += "<text class=\"tick\" x=\"\(f(l - 6))\" y=\"\(f(at + 3))\" text-anchor=\"end\" font-size=\"10\">\(String(format: "%.3g", v))</text>"
        }
        s +=
            "<text x=\"12\" y=\"\(f((height - b + t) / 2))\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(f((height - b + t) / 2)))\">\(yLabel)</text>"
        return s
    }

    /// |Spearman ρ| between each parameter (numbers, or category codes) and val MAE over finished trials.
    static func importance(_ points: [SweepStore.TrialPoint], parameters: [String]) -> [(name: String, rho: Double)] {
        func ranks(_ xs: [Double]) -> [Double] {
            let order = xs.indices.sorted { xs[$0] < xs[$1] }
            var r = [Double](repeating: 0, count: xs.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && xs[order[j + 1]] == xs[order[i]] { j += 1 }
                for k in i...j { r[order[k]] = Double(i + j) / 2 }
                i = j + 1
            }
            return r
        }
        let scored = points.filter { $0.valMae != nil }
        guard scored.count >= 3 else { return [] }
        let y = ranks(scored.map { $0.valMae! })
        return parameters.map { name in
            let raw = scored.map { $0.params[name] }
            let numeric = raw.allSatisfy { $0?.doubleValue != nil }
            let categories = Array(Set(raw.map { $0?.description ?? "" })).sorted()
            // Categories are coded by their mean val MAE rank, so the correlation measures separation.
            var codes: [Double]
            if numeric {
                codes = raw.map { $0!.doubleValue! }
            } else {
                var means: [String: Double] = [:]
                for c in categories {
                    let idx = raw.indices.filter { (raw[$0]?.description ?? "") == c }
                    means[c] = idx.map { y[$0] }.reduce(0, +) / Double(idx.count)
                }
                codes = raw.map { means[$0?.description ?? ""]! }
            }
            let x = ranks(codes)
            let n = Double(x.count)
            let mx = x.reduce(0, +) / n
            let my = y.reduce(0, +) / n
            var sxy = 0.0
            var sxx = 0.0
            var syy = 0.0
            for i in x.indices {
                sxy += (x[i] - mx) * (y[i] - my)
                sxx += (x[i] - mx) * (x[i] - mx)
                syy += (y[i] - my) * (y[i] - my)
            }
            let rho = sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
            return (name, abs(rho))
        }.sorted { $0.rho > $1.rho }
    }
}
