import Foundation
import RecurEngine

/// Tree-structured Parzen Estimator [1], univariate, over mixed categorical / int / float (log)
/// spaces, as Optuna's default sampler.
///
/// After `n_startup` random trials, the history is split into the best `γ(n) = min(⌈0.1 n⌉, 25)`
/// observations and the rest; for each parameter a Parzen estimator `l(x)` is fitted to the good
/// values and `g(x)` to the others, `candidates` values are drawn from `l`, and the one with the
/// largest `l(x)/g(x)` wins. Completed trials rank by objective; pruned trials rank after all
/// completed ones. Deterministic given the seed and the history.
///
/// The model is updated incrementally: observations are kept ranked (binary insertion), and `g`
/// uses at most 128 bad observations, taken evenly by rank (a stratified sample of the bad
/// region), so a suggestion costs the same at 1,000 and at 100,000 trials and stays well under a
/// millisecond on the coordinator's dispatch path.
///
/// [1] Bergstra, Bardenet, Bengio, Kégl: Algorithms for Hyper-Parameter Optimization, NIPS 2011.
public final class TPESampler: Sampler {
    /// One modelled coordinate: a parameter, or one layer of a per-layer parameter.
    struct Dimension {
        var name: String
        var layer: Int?
        var kind: Kind
        enum Kind {
            case categorical([ParameterValue])
            /// Transformed to `[low, high]` (log space when `log`); `integer` rounds back.
            case numeric(low: Double, high: Double, log: Bool, integer: Bool)
        }
    }

    let spec: SweepSpec
    let dimensions: [Dimension]
    /// Per observation: the transformed value of each dimension (NaN when absent).
    private var points: [[Double]] = []
    /// Observation indices ordered best first: (pruned, signed value, index).
    private var ranked: [(pruned: Bool, value: Double, index: Int)] = []
    static let badLimit = 128

    public init(spec: SweepSpec) {
        self.spec = spec
        var dims: [Dimension] = []
        func kind(_ domain: Domain) -> Dimension.Kind? {
            switch domain {
            case .fixed: return nil
            case .choice(let list): return .categorical(list)
            case .int(let low, let high, let log):
                return log
                    ? .numeric(low: Foundation.log(Double(low) - 0.5), high: Foundation.log(Double(high) + 0.5), log: true, integer: true)
                    : .numeric(low: Double(low) - 0.5, high: Double(high) + 0.5, log: false, integer: true)
            case .float(let low, let high, let log, _):
                return log
                    ? .numeric(low: Foundation.log(low), high: Foundation.log(high), log: true, integer: false)
                    : .numeric(low: low, high: high, log: false, integer: false)
            case .perLayer: return nil
            }
        }
        for p in spec.space {
            if case .perLayer(let inner) = p.domain {
                if let k = kind(inner) { for layer in 0..<spec.maximumDepth { dims.append(Dimension(name: p.name, layer: layer, kind: k)) } }
            } else if let k = kind(p.domain) {
                dims.append(Dimension(name: p.name, layer: nil, kind: k))
            }
        }
        dimensions = dims
    }

    public var observationCount: Int { points.count }

    public func observe(_ observation: Observation) {
        let signed = spec.objective.minimize ? observation.value : -observation.value
        let row = dimensions.map { encode(observation.config, $0) }
        let index = points.count
        points.append(row)
        let key = (observation.pruned, signed.isFinite ? signed : .infinity)
        var lo = 0
        var hi = ranked.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let m = ranked[mid]
            if (m.pruned ? 1 : 0, m.value) <= (key.0 ? 1 : 0, key.1) { lo = mid + 1 } else { hi = mid }
        }
        ranked.insert((key.0, key.1, index), at: lo)
    }

    private func encode(_ config: TrialConfig, _ d: Dimension) -> Double {
        var value = config[d.name]
        if let layer = d.layer {
            guard case .list(let list)? = value, layer < list.count else { return .nan }
            value = list[layer]
        }
        guard let value else { return .nan }
        switch d.kind {
        case .categorical(let list): return list.firstIndex { $0.matches(value) }.map(Double.init) ?? .nan
        case .numeric(_, _, let log, _):
            guard let x = value.doubleValue else { return .nan }
            return log ? Foundation.log(x) : x
        }
    }

    public func suggest(number: Int, isTaken: (String) -> Bool) -> TrialConfig? {
        // Start-up and fallback draws are plain random draws in draw order: an unbiased sample for
        // the model, not random search's priciest-first order.
        if points.count < spec.search.startupTrials { return spec.randomDraw(number: number, isTaken: isTaken) }
        for attempt in 0..<100 {
            var rng = spec.generator(number: number, attempt: attempt)
            let config = modelConfig(rng: &rng)
            if !isTaken(config.hash) { return config }
        }
        return spec.randomDraw(number: number, isTaken: isTaken)
    }

    private func modelConfig(rng: inout SeededGenerator) -> TrialConfig {
        let n = ranked.count
        let goodCount = max(1, min(Int((0.1 * Double(n)).rounded(.up)), 25))
        let good = ranked.prefix(goodCount).map(\.index)
        let badAll = ranked.dropFirst(goodCount)
        var bad: [Int] = []
        if badAll.count <= Self.badLimit {
            bad = badAll.map(\.index)
        } else {
            let stride = Double(badAll.count) / Double(Self.badLimit)
            let base = badAll.startIndex
            bad = (0..<Self.badLimit).map { badAll[base + Int(Double($0) * stride)].index }
        }
        var values: [String: ParameterValue] = [:]
        var layers: [String: [Int: ParameterValue]] = [:]
        for (k, d) in dimensions.enumerated() {
            let g = good.map { points[$0][k] }.filter { !$0.isNaN }
            let b = bad.map { points[$0][k] }.filter { !$0.isNaN }
            let v = choose(d, good: g, bad: b, rng: &rng)
            if let layer = d.layer { layers[d.name, default: [:]][layer] = v } else { values[d.name] = v }
        }
        for p in spec.space {
            if case .fixed(let v) = p.domain { values[p.name] = v }
            if case .perLayer(let inner) = p.domain {
                if case .fixed(let v) = inner {
                    values[p.name] = .list(Array(repeating: v, count: spec.maximumDepth))
                } else {
                    let map = layers[p.name] ?? [:]
                    values[p.name] = .list((0..<spec.maximumDepth).map { map[$0]! })
                }
            }
        }
        return spec.finalize(values)
    }

    private func choose(_ d: Dimension, good: [Double], bad: [Double], rng: inout SeededGenerator) -> ParameterValue {
        switch d.kind {
        case .categorical(let list):
            let k = list.count
            func weights(_ xs: [Double]) -> [Double] {
                var w = [Double](repeating: 1.0 / Double(k), count: k)
                for x in xs { w[Int(x)] += 1 }
                let total = w.reduce(0, +)
                return w.map { $0 / total }
            }
            let l = weights(good)
            let g = weights(bad)
            var bestScore = -Double.infinity
            var best = 0
            for _ in 0..<spec.search.candidates {
                var u = rng.nextUnitDouble()
                var c = 0
                while c < k - 1 && u >= l[c] {
                    u -= l[c]
                    c += 1
                }
                let score = Foundation.log(l[c]) - Foundation.log(g[c])
                if score > bestScore {
                    bestScore = score
                    best = c
                }
            }
            return list[best]
        case .numeric(let low, let high, let log, let integer):
            let lEstimator = Parzen(points: good, low: low, high: high)
            let gEstimator = Parzen(points: bad, low: low, high: high)
            var bestScore = -Double.infinity
            var best = (low + high) / 2
            for _ in 0..<spec.search.candidates {
                let x = lEstimator.sample(rng: &rng)
                let score = lEstimator.logDensity(x) - gEstimator.logDensity(x)
                if score > bestScore {
                    bestScore = score
                    best = x
                }
            }
            let raw = log ? exp(best) : best
            if integer {
                // The bounds are the integers ± ½ (in log space when `log`); rounding, not truncating,
                // recovers them exactly despite exp(log(x)) ≠ x.
                let lo = Int(((log ? exp(low) : low) + 0.5).rounded())
                let hi = Int(((log ? exp(high) : high) - 0.5).rounded())
                return .int(min(hi, max(lo, Int(raw.rounded()))))
            }
            return .double(raw)
        }
    }
}

/// A truncated-Gaussian mixture on `[low, high]` with a wide prior component (Optuna's bandwidths:
/// the larger gap to a neighbour, clipped to `[range / min(100, n + 1), range]`).
struct Parzen {
    var mu: [Double] = []
    var sigma: [Double] = []
    var inverseSigma: [Double] = []
    var logNorm: [Double] = []
    let low: Double, high: Double

    init(points: [Double], low: Double, high: Double) {
        self.low = low
        self.high = high
        let range = high - low
        let sorted = points.sorted()
        let n = sorted.count
        let minSigma = range / Double(min(100, n + 1))
        for (i, x) in sorted.enumerated() {
            let left = i == 0 ? x - low : x - sorted[i - 1]
            let right = i == n - 1 ? high - x : sorted[i + 1] - x
            mu.append(x)
            sigma.append(min(range, max(minSigma, max(left, right))))
        }
        mu.append((low + high) / 2)
        sigma.append(range)
        inverseSigma = sigma.map { 1 / $0 }
        let weight = 1 / Double(mu.count)
        for i in 0..<mu.count {
            let z = Parzen.phi((high - mu[i]) / sigma[i]) - Parzen.phi((low - mu[i]) / sigma[i])
            logNorm.append(Foundation.log(weight) - Foundation.log(max(z, 1e-300)) - Foundation.log(sigma[i] * (2 * Double.pi).squareRoot()))
        }
    }

    static func phi(_ x: Double) -> Double { 0.5 * (1 + erf(x / 2.0.squareRoot())) }

    func logDensity(_ x: Double) -> Double {
        mu.withUnsafeBufferPointer { mu in
            inverseSigma.withUnsafeBufferPointer { inverseSigma in
                logNorm.withUnsafeBufferPointer { logNorm in
                    var maxTerm = -Double.infinity
                    for i in 0..<mu.count {
                        let z = (x - mu[i]) * inverseSigma[i]
                        maxTerm = max(maxTerm, logNorm[i] - 0.5 * z * z)
                    }
                    var sum = 0.0
                    for i in 0..<mu.count {
                        let z = (x - mu[i]) * inverseSigma[i]
                        sum += exp(logNorm[i] - 0.5 * z * z - maxTerm)
                    }
                    return maxTerm + Foundation.log(sum)
                }
            }
        }
    }

    func sample(rng: inout SeededGenerator) -> Double {
        let i = Int(rng.next() % UInt64(mu.count))
        for _ in 0..<16 {
            let x = mu[i] + sigma[i] * rng.nextNormal()
            if x >= low && x <= high { return x }
        }
        return min(high, max(low, mu[i]))
    }
}
