import Foundation
import RecurEngine
import Testing

@testable import RecurSweep

@Suite struct SamplerTests {
    static func spec(_ method: String, space: String, extra: String = "") throws -> SweepSpec {
        try SweepSpec.parse(
            yaml: """
                name: s
                task: {dataset: d.csv, target: y}
                search: {method: \(method), seed: 3\(extra)}
                space:
                \(space)
                """
        )
    }

    @Test func gridEnumeratesTheProductOncePriciestFirst() throws {
        let spec = try Self.spec("grid", space: "  cell: {choice: [gru, lstm]}\n  units: {choice: [16, 32]}\n  depth: {int: [1, 2]}")
        #expect(spec.search.maxTrials == 8)
        let sampler = spec.makeSampler()
        var taken: Set<String> = []
        var configs: [TrialConfig] = []
        for n in 0..<10 {
            guard let c = sampler.suggest(number: n, isTaken: { taken.contains($0) }) else { break }
            taken.insert(c.hash)
            configs.append(c)
        }
        #expect(configs.count == 8 && Set(configs.map(\.hash)).count == 8)
        // Priciest first, so the longest trials start early: the largest model leads, the smallest ends.
        #expect(configs.first == TrialConfig(["cell": .string("lstm"), "units": .int(32), "depth": .int(2)]))
        #expect(configs.last == TrialConfig(["cell": .string("gru"), "units": .int(16), "depth": .int(1)]))
        let costs = configs.map { spec.flopsPerSample($0, features: 1) }
        #expect(zip(costs, costs.dropFirst()).allSatisfy { $0 >= $1 }, "\(costs)")
        // A restarted sampler skips what the sweep already holds.
        let again = spec.makeSampler()
        #expect(again.suggest(number: 8, isTaken: { taken.contains($0) }) == nil)
    }

    @Test func gridMergesPerLayerPointsBeyondTheDepth() throws {
        let spec = try Self.spec("grid", space: "  depth: {int: [1, 2]}\n  units: {per_layer: {choice: [8, 16]}}")
        let sampler = spec.makeSampler()
        var taken: Set<String> = []
        while let c = sampler.suggest(number: taken.count, isTaken: { taken.contains($0) }) { taken.insert(c.hash) }
        #expect(taken.count == 2 + 4)  // depth 1: [8], [16]; depth 2: four pairs
        #expect(GridSampler.distinctSize(of: spec) == 6 && spec.search.maxTrials == 6)  // not the product, 8
    }

    @Test func randomIsSeededAndNeverRepeatsAConfig() throws {
        let spec = try Self.spec("random", space: "  cell: {choice: [gru, lstm]}\n  units: {choice: [16, 32]}")
        func run() -> [TrialConfig] {
            let s = spec.makeSampler()
            var taken: Set<String> = []
            var out: [TrialConfig] = []
            for n in 0..<6 {
                guard let c = s.suggest(number: n, isTaken: { taken.contains($0) }) else { break }
                taken.insert(c.hash)
                out.append(c)
            }
            return out
        }
        let a = run()
        #expect(a.count == 4)  // only four distinct configs exist
        #expect(Set(a.map(\.hash)).count == 4)
        #expect(a == run())
    }

    /// A random sweep that runs all its trials hands its draws out priciest first; one that may
    /// stop early (here after 5 trials without improvement) keeps draw order.
    @Test func randomRunsPriciestFirstOnlyWhenEveryTrialRuns() throws {
        let space = "  cell: {choice: [simple_rnn, gru, lstm]}\n  units: {choice: [8, 16, 32, 64]}\n  depth: {int: [1, 3]}"
        func suggestions(_ spec: SweepSpec) -> [TrialConfig] {
            let sampler = spec.makeSampler()
            var taken: Set<String> = []
            var out: [TrialConfig] = []
            for n in 0..<spec.search.maxTrials {
                guard let c = sampler.suggest(number: n, isTaken: { taken.contains($0) }) else { break }
                taken.insert(c.hash)
                out.append(c)
            }
            return out
        }
        let all = try Self.spec("random", space: space, extra: ", max_trials: 12")
        let stopping = try Self.spec("random", space: space, extra: ", max_trials: 12, stop: {no_improvement_trials: 5}")
        let sorted = suggestions(all)
        let drawn = suggestions(stopping)
        #expect(sorted.count == 12 && drawn.count == 12)
        #expect(Set(sorted.map(\.hash)) == Set(drawn.map(\.hash)), "the same configurations, in another order")
        let costs = sorted.map { all.flopsPerSample($0, features: 1) }
        #expect(zip(costs, costs.dropFirst()).allSatisfy { $0 >= $1 }, "\(costs)")
        let drawnCosts = drawn.map { all.flopsPerSample($0, features: 1) }
        #expect(!zip(drawnCosts, drawnCosts.dropFirst()).allSatisfy { $0 >= $1 }, "draw order is not already priciest first")
        // A restarted sampler goes on with the priciest of what the sweep does not hold.
        let again = all.makeSampler()
        let held = Set(sorted.prefix(5).map(\.hash))
        #expect(again.suggest(number: 5, isTaken: { held.contains($0) }) == sorted[5])
    }

    /// TPE's start-up trials are plain random draws in draw order, an unbiased sample for its
    /// model, even when the sweep runs every trial (random search's priciest-first order is not
    /// TPE's start-up).
    @Test func tpeStartsFromDrawOrder() throws {
        let space = "  cell: {choice: [simple_rnn, gru, lstm]}\n  units: {choice: [8, 16, 32, 64]}\n  depth: {int: [1, 3]}"
        let spec = try Self.spec("tpe", space: space, extra: ", max_trials: 40, n_startup: 6")
        let tpe = spec.makeSampler()
        var taken: Set<String> = []
        for n in 0..<6 {
            let config = tpe.suggest(number: n, isTaken: { taken.contains($0) })
            #expect(config != nil && config == spec.randomDraw(number: n, isTaken: { taken.contains($0) }), "start-up trial \(n)")
            if let config { taken.insert(config.hash) }
        }
    }

    @Test func sampledValuesStayInTheirDomains() throws {
        let spec = try Self.spec(
            "random",
            space: """
                  depth: {int: [1, 3]}
                  units: {per_layer: {int: [4, 64], log: true}}
                  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
                  dropout: {float: [0.0, 0.5]}
                """
        )
        let s = spec.makeSampler()
        for n in 0..<200 {
            let c = try #require(s.suggest(number: n, isTaken: { _ in false }))
            let depth = c["depth"]!.intValue!
            #expect((1...3).contains(depth))
            guard case .list(let units)? = c["units"] else {
                Issue.record("units not a list")
                continue
            }
            #expect(units.count == depth && units.allSatisfy { (4...64).contains($0.intValue!) })
            #expect((1e-4...1e-2).contains(c["learning_rate"]!.doubleValue!))
            #expect((0...0.5).contains(c["dropout"]!.doubleValue!))
        }
    }

    /// TPE's integer bounds survive the log round trip: exp(log(64.5)) − 0.5 is 63.999…, which
    /// truncation used to turn into 63, so 64 could never be suggested.
    @Test func tpeReachesBothEndsOfALogIntRange() throws {
        let spec = try Self.spec("tpe", space: "  units: {int: [62, 64], log: true}\n  dropout: {float: [0.0, 0.5]}", extra: ", n_startup: 3")
        let sampler = spec.makeSampler()
        var seen: [Int] = []
        for n in 0..<40 {
            let c = try #require(sampler.suggest(number: n, isTaken: { _ in false }))
            let units = c["units"]!.intValue!
            seen.append(units)
            sampler.observe(Observation(config: c, value: Double(64 - units) + c["dropout"]!.doubleValue!, pruned: false))
        }
        #expect(seen.allSatisfy { (62...64).contains($0) })
        #expect(seen[3...].filter { $0 == 64 }.count > 10, "TPE suggested \(seen)")
    }

    /// On a synthetic objective over the same kind of space, TPE's median best after 50 trials
    /// beats random search's, over 10 seeds.
    @Test func tpeBeatsRandomOnASyntheticObjective() throws {
        let space = """
              cell: {choice: [simple_rnn, lstm, gru]}
              depth: {int: [1, 3]}
              units: {choice: [16, 32, 64]}
              dropout: {float: [0.0, 0.5]}
              bidirectional: {choice: [false, true]}
              learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
            """
        func objective(_ c: TrialConfig) -> Double {
            let lr = log10(c["learning_rate"]!.doubleValue!)
            var v = (lr + 2.5) * (lr + 2.5) + 3 * (c["dropout"]!.doubleValue! - 0.2) * (c["dropout"]!.doubleValue! - 0.2)
            if c["cell"] != .string("gru") { v += 0.6 }
            v += 0.15 * abs(Double(c["depth"]!.intValue! - 2))
            if c["units"] != .int(32) { v += 0.2 }
            if c["bidirectional"] == .bool(true) { v += 0.1 }
            return v
        }
        func bestAfter50(_ method: String, seed: Int) throws -> Double {
            let spec = try Self.spec(method, space: space, extra: ", n_startup: 10").withSeed(UInt64(seed))
            let sampler = spec.makeSampler()
            var taken: Set<String> = []
            var best = Double.infinity
            for n in 0..<50 {
                guard let c = sampler.suggest(number: n, isTaken: { taken.contains($0) }) else { break }
                taken.insert(c.hash)
                let v = objective(c)
                best = min(best, v)
                sampler.observe(Observation(config: c, value: v, pruned: false))
            }
            return best
        }
        func median(_ xs: [Double]) -> Double {
            let s = xs.sorted()
            return (s[4] + s[5]) / 2
        }
        let tpe = try (1...10).map { try bestAfter50("tpe", seed: $0) }
        let random = try (1...10).map { try bestAfter50("random", seed: $0) }
        #expect(median(tpe) < median(random), "TPE \(median(tpe)) vs random \(median(random))")
    }

    /// A coordinator rebuilds TPE from stored configs: `0.0` comes back from JSON as `0`, and must
    /// still count as the choice `0.0` (it used to be dropped from the history).
    @Test func tpeLearnsTheSameFromConfigsReadBackFromJSON() throws {
        let spec = try Self.spec(
            "tpe",
            space: "  dropout: {choice: [0.0, 0.3, 0.6]}\n  units: {choice: [8, 16, 32, 64, 128]}",
            extra: ", n_startup: 4"
        )
        let direct = spec.makeSampler()
        let restored = spec.makeSampler()
        var taken: Set<String> = []
        for n in 0..<12 {
            let a = try #require(direct.suggest(number: n, isTaken: { taken.contains($0) }))
            let b = try #require(restored.suggest(number: n, isTaken: { taken.contains($0) }))
            #expect(a == b, "trial \(n): \(a.canonicalJSON) vs \(b.canonicalJSON)")
            taken.insert(a.hash)
            let value = (a["dropout"]!.doubleValue! == 0 ? 0 : 1) + Double(a["units"]!.intValue!) / 100
            direct.observe(Observation(config: a, value: value, pruned: false))
            restored.observe(Observation(config: try TrialConfig.decode(json: a.canonicalJSON), value: value, pruned: false))
        }
        #expect(ParameterValue.int(0).matches(.double(0)) && !ParameterValue.int(0).matches(.double(0.3)))
        #expect(try TrialConfig.decode(json: #"{"dropout":0}"#)["dropout"] == .int(0))
    }

    @Test func tpeIsDeterministicGivenSeedAndHistory() throws {
        let spec = try Self.spec(
            "tpe",
            space: "  units: {int: [8, 64]}\n  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}",
            extra: ", n_startup: 3"
        )
        func run() -> [TrialConfig] {
            let s = spec.makeSampler()
            var out: [TrialConfig] = []
            for n in 0..<12 {
                let c = s.suggest(number: n, isTaken: { _ in false })!
                out.append(c)
                s.observe(Observation(config: c, value: Double(c["units"]!.intValue!), pruned: n % 4 == 0))
            }
            return out
        }
        #expect(run() == run())
    }
}

extension SweepSpec {
    func withSeed(_ seed: UInt64) -> SweepSpec {
        var s = self
        s.search.seed = seed
        return s
    }
}
