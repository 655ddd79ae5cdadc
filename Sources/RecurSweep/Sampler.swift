import Foundation
import RecurEngine

/// A finished trial as samplers see it.
public struct Observation: Sendable, Equatable {
    public var config: TrialConfig
    /// The objective, in the sweep's direction (smaller is better after ``SweepSpec/Objective``).
    public var value: Double
    /// Pruned trials count as worse than every completed one.
    public var pruned: Bool

    public init(config: TrialConfig, value: Double, pruned: Bool) {
        self.config = config
        self.value = value
        self.pruned = pruned
    }
}

/// Suggests configurations from an in-memory model of the sweep's history, updated one
/// observation at a time (never by rescanning all trials).
public protocol Sampler: AnyObject {
    /// The config for trial `number` (0-based); `isTaken` says whether a config hash already
    /// exists in the sweep. nil when the space is exhausted.
    func suggest(number: Int, isTaken: (String) -> Bool) -> TrialConfig?
    /// Adds a completed or pruned trial to the model.
    func observe(_ observation: Observation)
}

extension SweepSpec {
    /// The sampler this sweep's `search.method` names.
    public func makeSampler() -> Sampler {
        switch search.method {
        case .grid: return GridSampler(spec: self)
        case .random: return RandomSampler(spec: self)
        case .tpe: return TPESampler(spec: self)
        }
    }

    /// Trims per-layer lists to the config's depth, so equal models hash equally.
    func finalize(_ values: [String: ParameterValue]) -> TrialConfig {
        var v = values
        let depth = v["depth"]?.intValue ?? 1
        for p in space {
            if case .perLayer = p.domain, case .list(let list)? = v[p.name] { v[p.name] = .list(Array(list.prefix(depth))) }
        }
        return TrialConfig(v)
    }

    /// A generator for trial `number` that depends only on the seed and the number.
    func generator(number: Int, attempt: Int = 0) -> SeededGenerator {
        var mix = SeededGenerator(seed: search.seed ^ 0x9E37_79B9_7F4A_7C15)
        let a = mix.next()
        let b = mix.next()
        return SeededGenerator(seed: a &+ UInt64(number) &* b &+ UInt64(attempt) &* 0xD1B5_4A32_D192_ED03)
    }
}

/// Draws one value from a domain.
func sample(_ domain: Domain, depth: Int, rng: inout SeededGenerator) -> ParameterValue {
    switch domain {
    case .fixed(let v): return v
    case .choice(let list): return list[Int(rng.next() % UInt64(list.count))]
    case .int(let low, let high, let logScale):
        if logScale {
            let x = exp(log(Double(low)) + rng.nextUnitDouble() * (log(Double(high) + 1) - log(Double(low))))
            return .int(min(high, max(low, Int(x))))
        }
        return .int(low + Int(rng.next() % UInt64(high - low + 1)))
    case .float(let low, let high, let logScale, _):
        if logScale { return .double(exp(log(low) + rng.nextUnitDouble() * (log(high) - log(low)))) }
        return .double(low + rng.nextUnitDouble() * (high - low))
    case .perLayer(let inner): return .list((0..<depth).map { _ in sample(inner, depth: 1, rng: &rng) })
    }
}

/// Random search: each draw depends only on the seed and its number; a config already in the
/// sweep is redrawn (at most 100 times).
///
/// A sweep that runs every one of its trials (no budget or stop rule, at most 10,000 trials)
/// draws them all up front and hands them out priciest first, as a grid does: the same
/// configurations, but the longest start early instead of ending the sweep alone on one worker
/// (the KerasTuner-match sweep's last trial ran 6.5–6.9 s alone, docs/performance.md §12). A
/// sweep that may end early keeps draw order, so that it does not favour the pricier models.
public final class RandomSampler: Sampler {
    let spec: SweepSpec

    public init(spec: SweepSpec) { self.spec = spec }

    public func suggest(number: Int, isTaken: (String) -> Bool) -> TrialConfig? {
        if let batch {
            // The taken set only grows, so every draw before the cursor is taken: each lease looks
            // at the next few draws, not the whole list (a config's hash is a SHA-256).
            while cursor < batch.count {
                let next = batch[cursor]
                if !isTaken(next.hash) { return next.config }
                cursor += 1
            }
        }
        return spec.randomDraw(number: number, isTaken: isTaken)
    }

    /// How far into `batch` every draw is taken.
    private var cursor = 0

    /// Every draw of a sweep that runs them all, priciest first (training FLOPs per window; ties
    /// keep draw order); nil when the sweep may end early.
    lazy var batch: [(config: TrialConfig, hash: String)]? = {
        guard spec.search.stopRules.isEmpty, spec.search.maxTrials <= 10_000 else { return nil }
        var drawn: [(config: TrialConfig, hash: String)] = []
        var hashes: Set<String> = []
        for number in 0..<spec.search.maxTrials {
            guard let draw = spec.hashedRandomDraw(number: number, isTaken: { hashes.contains($0) }) else { break }
            hashes.insert(draw.hash)
            drawn.append(draw)
        }
        let costs = drawn.map { spec.flopsPerSample($0.config, features: spec.featureHint) }
        return drawn.indices.sorted { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }.map { drawn[$0] }
    }()

    public func observe(_ observation: Observation) {}
}

extension SweepSpec {
    /// Random draw `number`: the first of its redraws the sweep does not hold. Random search's
    /// fallback and TPE's start-up draws, in draw order.
    func randomDraw(number: Int, isTaken: (String) -> Bool) -> TrialConfig? {
        hashedRandomDraw(number: number, isTaken: isTaken)?.config
    }

    /// `randomDraw` with the hash it was checked under (a SHA-256: computed once).
    func hashedRandomDraw(number: Int, isTaken: (String) -> Bool) -> (config: TrialConfig, hash: String)? {
        for attempt in 0..<100 {
            var rng = generator(number: number, attempt: attempt)
            let config = randomConfig(rng: &rng)
            let hash = config.hash
            if !isTaken(hash) { return (config, hash) }
        }
        return nil
    }

    func randomConfig(rng: inout SeededGenerator) -> TrialConfig {
        var values: [String: ParameterValue] = [:]
        let depthLimit = maximumDepth
        for p in space { values[p.name] = sample(p.domain, depth: depthLimit, rng: &rng) }
        return finalize(values)
    }
}

/// Grid search: the Cartesian product of every parameter's discrete values (the last parameter
/// varies fastest), priciest model first; each point is claimed once.
public final class GridSampler: Sampler {
    let spec: SweepSpec
    let dimensions: [(name: String, values: [ParameterValue], layer: Int?)]
    private var cursor = 0

    public init(spec: SweepSpec) {
        self.spec = spec
        dimensions = GridSampler.dimensions(of: spec)
    }

    static func dimensions(of spec: SweepSpec) -> [(name: String, values: [ParameterValue], layer: Int?)] {
        var dims: [(String, [ParameterValue], Int?)] = []
        for p in spec.space {
            if case .perLayer(let inner) = p.domain {
                for layer in 0..<spec.maximumDepth { dims.append((p.name, inner.gridValues ?? [], layer)) }
            } else {
                dims.append((p.name, p.domain.gridValues ?? [], nil))
            }
        }
        return dims
    }

    /// Points in the product (before per-layer values beyond a point's depth are merged).
    public static func size(of spec: SweepSpec) -> Int {
        dimensions(of: spec).reduce(1) { total, d in
            let (product, overflow) = total.multipliedReportingOverflow(by: max(1, d.values.count))
            return overflow ? Int.max / 2 : min(product, Int.max / 2)
        }
    }

    /// Distinct configs in the grid: per-layer values beyond a point's depth merge points, so a
    /// `per_layer` grid holds fewer configs than its product. Enumerated up to 200,000 points;
    /// larger grids report the product.
    public static func distinctSize(of spec: SweepSpec) -> Int {
        let total = size(of: spec)
        let dims = dimensions(of: spec)
        guard total <= 200_000, dims.contains(where: { $0.layer != nil }), !dims.contains(where: { $0.values.isEmpty }) else { return total }
        let sampler = GridSampler(spec: spec)
        return Set((0..<total).map { sampler.point($0).hash }).count
    }

    public func suggest(number: Int, isTaken: (String) -> Bool) -> TrialConfig? {
        let total = GridSampler.size(of: spec)
        while cursor < total {
            let config = point(order?[cursor] ?? cursor)
            cursor += 1
            if !isTaken(config.hash) { return config }
        }
        return nil
    }

    /// Grid indices priciest first (training FLOPs per window; ties keep file order), so the
    /// longest trials start early and the sweep's tail is short. Grids over 50,000 points keep
    /// file order.
    lazy var order: [Int]? = {
        let total = GridSampler.size(of: spec)
        guard total <= 50_000 else { return nil }
        let costs = (0..<total).map { spec.flopsPerSample(point($0), features: spec.featureHint) }
        return (0..<total).sorted { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }
    }()

    /// The grid point at `index`.
    func point(_ index: Int) -> TrialConfig {
        var rest = index
        var values: [String: ParameterValue] = [:]
        var layers: [String: [ParameterValue]] = [:]
        for d in dimensions.reversed() {
            let v = d.values[rest % d.values.count]
            rest /= d.values.count
            if d.layer != nil { layers[d.name, default: []].insert(v, at: 0) } else { values[d.name] = v }
        }
        for (name, list) in layers { values[name] = .list(list) }
        return spec.finalize(values)
    }

    public func observe(_ observation: Observation) {}
}
