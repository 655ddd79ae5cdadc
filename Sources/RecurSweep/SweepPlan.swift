import Foundation
import RecurEngine
import RecurForecast

/// What a sweep will cost before it runs (`recur sweep plan`).
///
/// A run costs `t(F) · (epochs · (train + val/3) + test/3)` seconds, where `F` is the model's
/// training FLOPs per window (``ModelSpec/trainingFLOPsPerSample(steps:)``), `t` the seconds per
/// window measured on this machine (``CostCalibration``), and evaluation, forward only, costs a
/// third of a training window. With a database of earlier sweeps on the task, the test pass is
/// replaced by what runs there took beyond their epochs (start, test pass, checkpoint,
/// completion). The anchors cannot do this: they do not own the model.
public struct SweepPlan: Sendable, Equatable {
    /// Seconds per trial over the space: the cheapest and priciest corners and the median of
    /// random draws.
    public struct Spread: Sendable, Equatable {
        public var min: Double
        public var median: Double
        public var max: Double
    }

    /// Trials the sweep runs (`max_trials`, or the grid's size).
    public var trials: Int
    /// Runs per trial during the search (folds × seeds, plus refits).
    public var runsPerTrial: Int
    public var secondsPerTrial: Spread
    /// The priciest configuration found in the space, and its seconds per trial.
    public var priciest: (config: TrialConfig, seconds: Double)
    /// Wall time of the sweep on `workers` one-slot workers (or `max_parallel`, when smaller).
    public var wallSeconds: (noPruning: Double, withPruning: Double)
    public var workers: Int
    /// The share of a trial's epochs the sweep's pruner is assumed to leave (1 without pruning).
    public var pruningShare: Double
    /// Epochs each run is priced at: all of them, or fewer with early stopping and history.
    public var epochsPriced: Int
    /// How much longer than the calibration earlier runs on this task trained, and how many
    /// runs (nil: the calibration alone).
    public var pace: (factor: Double, runs: Int)?
    /// What the estimate assumes, one sentence each.
    public var assumptions: [String]
    /// A corner over 10× the median, a space smaller than `max_trials`.
    public var warnings: [String]

    /// 0.4 s, 42 s, 7.5 min, 3.2 h: plans and ETAs.
    public static func duration(_ seconds: Double) -> String {
        if seconds < 10 { return String(format: "%.1f s", seconds) }
        if seconds < 90 { return String(format: "%.0f s", seconds) }
        if seconds < 5400 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3600)
    }

    public static func == (a: SweepPlan, b: SweepPlan) -> Bool {
        a.trials == b.trials && a.runsPerTrial == b.runsPerTrial && a.secondsPerTrial == b.secondsPerTrial
            && a.priciest.config == b.priciest.config && a.priciest.seconds == b.priciest.seconds
            && a.wallSeconds.noPruning == b.wallSeconds.noPruning && a.wallSeconds.withPruning == b.wallSeconds.withPruning
            && a.workers == b.workers && a.pruningShare == b.pruningShare && a.epochsPriced == b.epochsPriced && a.pace?.factor == b.pace?.factor
            && a.pace?.runs == b.pace?.runs && a.assumptions == b.assumptions
            && a.warnings == b.warnings
    }
}

/// Windows a run trains, validates and tests on, for one split layout.
public struct WindowCounts: Sendable, Equatable {
    public var train: Int
    public var validation: Int
    public var test: Int
    public init(train: Int, validation: Int, test: Int) {
        self.train = train
        self.validation = validation
        self.test = test
    }

    public init(_ task: PreparedTask) {
        self.init(train: task.windowStarts(.train).count, validation: task.windowStarts(.validation).count, test: task.windowStarts(.test).count)
    }
}

/// Seconds per training window as a function of FLOPs per window, from a few measured points,
/// interpolated (and extrapolated) linearly in log–log space: small models are overhead-bound,
/// large ones GEMM-bound, and one rate cannot serve both.
public struct CostCalibration: Sendable, Equatable {
    public struct Point: Sendable, Equatable, Codable {
        public var flopsPerSample: Double
        public var secondsPerSample: Double
        public init(flopsPerSample: Double, secondsPerSample: Double) {
            self.flopsPerSample = flopsPerSample
            self.secondsPerSample = secondsPerSample
        }
    }
    /// Sorted by FLOPs, distinct.
    public let points: [Point]

    public init(points: [Point]) {
        var sorted: [Point] = []
        for p in points.sorted(by: { $0.flopsPerSample < $1.flopsPerSample }) where p.flopsPerSample > 0 && p.secondsPerSample > 0 {
            if let last = sorted.last, last.flopsPerSample == p.flopsPerSample { continue }
            sorted.append(p)
        }
        self.points = sorted
    }

    public func secondsPerSample(flops: Double) -> Double {
        guard let first = points.first else { return 0 }
        guard points.count > 1, flops > 0 else { return first.secondsPerSample * (points.count == 1 && flops > 0 ? flops / first.flopsPerSample : 1) }
        // The segment around `flops`, or the nearest end segment.
        var i = 0
        while i < points.count - 2 && flops > points[i + 1].flopsPerSample { i += 1 }
        let (a, b) = (points[i], points[i + 1])
        let slope = log(b.secondsPerSample / a.secondsPerSample) / log(b.flopsPerSample / a.flopsPerSample)
        return a.secondsPerSample * exp(slope * log(flops / a.flopsPerSample))
    }

    /// Seconds of one epoch: training on every training window, validation (a forward pass, a
    /// third of a training window's work) on every validation window.
    public func epochSeconds(flops: Double, windows: WindowCounts) -> Double {
        secondsPerSample(flops: flops) * (Double(windows.train) + Double(windows.validation) / 3)
    }

    /// This calibration with every window `factor` times as long.
    public func scaled(by factor: Double) -> CostCalibration {
        CostCalibration(points: points.map { Point(flopsPerSample: $0.flopsPerSample, secondsPerSample: $0.secondsPerSample * factor) })
    }

    /// An earlier run's epochs as they ran: its model's FLOPs per window, its windows, its epoch
    /// count and their seconds.
    public struct RanEpochs: Sendable, Equatable {
        public var flops: Double
        public var windows: WindowCounts
        public var epochs: Int
        public var seconds: Double
        public init(flops: Double, windows: WindowCounts, epochs: Int, seconds: Double) {
            (self.flops, self.windows, self.epochs, self.seconds) = (flops, windows, epochs, seconds)
        }
    }

    /// How much longer earlier runs' epochs took than this calibration prices them: the median,
    /// over the runs, of their epochs' seconds ÷ the priced seconds (nil without a usable run).
    /// A calibration keeps each model's fastest batches, which read a shared machine's epochs
    /// fast (about 20 % in docs/performance.md §8); and the cluster's workers may be slower or
    /// faster than this machine.
    public func pace(of runs: [RanEpochs]) -> (factor: Double, runs: Int)? {
        let ratios = runs.compactMap { run -> Double? in
            let priced = epochSeconds(flops: run.flops, windows: run.windows) * Double(run.epochs)
            return priced > 0 && run.seconds > 0 ? run.seconds / priced : nil
        }
        return ratios.isEmpty ? nil : (median(ofSorted: ratios.sorted()), ratios.count)
    }
}

extension SweepSpec {
    /// The configurations the sweep will lease, in order: the grid's points, or the random
    /// sampler's draws (TPE's first `n_startup` are exactly these; later ones stand in for the
    /// model's suggestions).
    public func plannedConfigs() -> [TrialConfig] {
        let sampler: Sampler = search.method == .grid ? GridSampler(spec: self) : RandomSampler(spec: self)
        var taken = Set<String>()
        var configs: [TrialConfig] = []
        for number in 0..<search.maxTrials {
            guard let config = sampler.suggest(number: number, isTaken: { taken.contains($0) }) else { break }
            taken.insert(config.hash)
            configs.append(config)
        }
        return configs
    }

    /// Input features for ordering by cost before the dataset is read: the task's column list,
    /// else 1 (the order of costs barely depends on it).
    var featureHint: Int {
        if case .columns(let list) = task.features { return list.count }
        return 1
    }

    /// FLOPs per training window of a configuration's model.
    public func flopsPerSample(_ config: TrialConfig, features: Int) -> Double {
        guard let plan = try? trainingPlan(for: config, features: features, seed: 0) else { return 0 }
        return plan.model.trainingFLOPsPerSample(steps: task.sequenceLength)
    }

    /// The cheapest (`pricier: false`) or priciest configuration by `cost`, by coordinate
    /// search over each parameter's candidate values (choices, and the ends of ranges).
    public func corner(pricier: Bool, cost: (TrialConfig) -> Double) -> TrialConfig {
        func candidates(_ domain: Domain) -> [ParameterValue] {
            switch domain {
            case .fixed(let v): return [v]
            case .choice(let list): return list
            case .int(let low, let high, _): return [.int(low), .int(high)]
            case .float(let low, let high, _, _): return [.double(low), .double(high)]
            case .perLayer(let inner): return candidates(inner).map { .list(Array(repeating: $0, count: maximumDepth)) }
            }
        }
        var values: [String: ParameterValue] = [:]
        for p in space { values[p.name] = candidates(p.domain).first }
        for _ in 0..<3 {
            for p in space {
                let options = candidates(p.domain)
                let scored = options.map { v -> (ParameterValue, Double) in
                    var trial = values
                    trial[p.name] = v
                    return (v, cost(finalize(trial)))
                }
                if let best = pricier ? scored.max(by: { $0.1 < $1.1 }) : scored.min(by: { $0.1 < $1.1 }) { values[p.name] = best.0 }
            }
        }
        return finalize(values)
    }

    /// The share of a trial's epochs left by the sweep's pruner, under a stated assumption.
    public var pruningShare: (share: Double, assumption: String) {
        let e = Double(training.epochs)
        switch pruning.method {
        case .none:
            return (1, "no pruning: every trial runs every epoch")
        case .median:
            let stop = (Double(min(pruning.warmup, training.epochs)) + e) / 2
            let share = 0.5 + 0.5 * stop / e
            return (
                share,
                "median pruning: half the trials stopped halfway between warm-up and the last epoch (\(Int((share * 100).rounded())) % of the epochs)"
            )
        case .asha:
            // Rungs at min_epochs·η^k; a trial passes each with probability 1/η.
            let eta = Double(max(2, pruning.reductionFactor))
            var rungs: [Double] = []
            var r = Double(max(1, pruning.minEpochs))
            while r < e {
                rungs.append(r)
                r *= eta
            }
            rungs.append(e)
            var expected = rungs[0]
            for k in 1..<rungs.count { expected += pow(1 / eta, Double(k)) * (rungs[k] - rungs[k - 1]) }
            let share = min(1, expected / e)
            return (share, "ASHA: a trial passes each rung with probability 1/η (\(Int((share * 100).rounded())) % of the epochs)")
        }
    }

    /// Seconds of one run of `config` on the given windows, for `epochs` epochs: its epochs, then
    /// `overhead` (what runs took beyond their epochs, measured), or without it the test pass alone.
    public func runSeconds(flops: Double, windows: WindowCounts, epochs: Int, calibration: CostCalibration, overhead: Double? = nil) -> Double {
        let testPass = calibration.secondsPerSample(flops: flops) * Double(windows.test) / 3
        return calibration.epochSeconds(flops: flops, windows: windows) * Double(epochs) + (overhead ?? testPass)
    }

    /// The plan: `windows` gives each layout's window counts, `calibration` this machine's speed.
    public func plan(
        workers: Int,
        features: Int,
        windows: (SplitLayout) -> WindowCounts,
        calibration: CostCalibration,
        earlyStopping history: (share: Double, trials: Int)? = nil,
        runOverhead: (seconds: Double, runs: Int)? = nil,
        pace: (factor: Double, runs: Int)? = nil,
        spaceSamples: Int = 1000
    ) -> SweepPlan {
        let calibration = pace.map { calibration.scaled(by: $0.factor) } ?? calibration
        let e = evaluation
        let scoring = e.scoringRuns(seeds: 0..<e.seeds)
        let refitWindows = windows(.refit)
        let scoringWindows = scoring.map { windows(e.layout(fold: $0.fold)) }
        // With early stopping and finished trials on this task to learn from, runs are priced
        // at the share of their epochs those trained; else at every epoch.
        let stoppingShare = training.earlyStopping != nil ? history?.share ?? 1 : 1
        let epochs = max(1, Int((Double(training.epochs) * stoppingShare).rounded()))
        /// Seconds of each scoring run, and of the trial's refits.
        func runs(_ config: TrialConfig) -> (scoring: [Double], refit: [Double]) {
            let flops = flopsPerSample(config, features: features)
            let overhead = runOverhead?.seconds
            let s = scoringWindows.map { runSeconds(flops: flops, windows: $0, epochs: epochs, calibration: calibration, overhead: overhead) }
            let refit = runSeconds(flops: flops, windows: refitWindows, epochs: epochs, calibration: calibration, overhead: overhead)
            let r = e.refits ? Array(repeating: refit, count: e.seeds) : []
            return (s, r)
        }
        func trialSeconds(_ config: TrialConfig) -> Double {
            let r = runs(config)
            return r.scoring.reduce(0, +) + r.refit.reduce(0, +)
        }

        // Over the space: corners and random draws.
        var draws: [Double] = []
        for number in 0..<spaceSamples {
            var rng = generator(number: 1_000_000 + number)
            draws.append(trialSeconds(randomConfig(rng: &rng)))
        }
        draws.sort()
        let cheapest = corner(pricier: false, cost: trialSeconds)
        let priciest = corner(pricier: true, cost: trialSeconds)
        let median = draws.isEmpty ? trialSeconds(priciest) : draws[draws.count / 2]
        let spread = SweepPlan.Spread(
            min: min(trialSeconds(cheapest), draws.first ?? .infinity),
            median: median,
            max: max(trialSeconds(priciest), draws.last ?? 0)
        )

        // The sweep itself: its configs on min(workers, max_parallel) slots, in lease order.
        let configs = plannedConfigs()
        let slots = max(1, min(workers, search.maxParallel))
        let (share, pruningAssumption) = pruningShare
        let confirmation = e.confirm.map { c -> [Double] in
            // The top K get M more seeds on every fold (and refits): priced as median trials.
            let perSeed = median / Double(max(1, e.seeds))
            return Array(repeating: perSeed, count: min(c.topK, configs.count) * c.seeds)
        }
        func wall(share: Double) -> Double {
            var schedule = SlotSchedule(slots: slots)
            for (i, config) in configs.enumerated() {
                let r = runs(config)
                // The first trials are the pruner's reference; later ones are pruned as assumed.
                let s = i < max(pruning.minTrials, 1) || pruning.method == .none ? 1 : share
                let ends = r.scoring.map { schedule.add($0 * s, notBefore: 0) }
                for refit in r.refit { _ = schedule.add(refit * s, notBefore: ends.max() ?? 0) }
            }
            for run in confirmation ?? [] { _ = schedule.add(run, notBefore: 0) }
            return schedule.makespan
        }
        var warnings: [String] = []
        if spread.max > 10 * spread.median {
            warnings.append(
                String(format: "the priciest corner (%@) costs %.0f× the median trial", priciest.compactDescription, spread.max / spread.median)
            )
        }
        if let size = discreteSize, size < search.maxTrials {
            warnings.append("the space holds \(size) distinct configurations, fewer than max_trials \(search.maxTrials)")
        }
        let epochAssumption: String
        if training.earlyStopping == nil {
            epochAssumption = "every run trains all \(epochs) epochs (no early stopping)"
        } else if let history {
            epochAssumption = String(
                format: "early stopping: runs train %.0f %% of their %d epochs, as %d completed trials on this task in the database did",
                history.share * 100,
                training.epochs,
                history.trials
            )
        } else {
            epochAssumption =
                "every run trains all \(epochs) epochs: early stopping only shortens runs (--db with earlier sweeps on this task prices it)"
        }
        let overheadAssumption =
            runOverhead.map {
                String(
                    format:
                        "each run adds %.2f s beyond its epochs (start, test pass, checkpoint, completion), the median of %d runs on this task in the database (this sweep's own, if it has any)",
                    $0.seconds,
                    $0.runs
                )
            }
            ?? "each run adds only its test pass beyond its epochs: starting and finishing runs is not priced (--db with earlier sweeps on this task prices it)"
        var assumptions = [epochAssumption, pruningAssumption, overheadAssumption]
        if let pace {
            assumptions.append(
                String(
                    format: "epochs priced at the pace %d runs on this task in the database trained at: %.2f× this calibration's",
                    pace.runs,
                    pace.factor
                )
            )
        }
        if search.method == .tpe { assumptions.append("TPE's configurations after n_startup are priced as random draws") }
        if slots < workers { assumptions.append("max_parallel \(search.maxParallel) caps the \(workers) workers") }
        return SweepPlan(
            trials: configs.count,
            runsPerTrial: scoring.count + (e.refits ? e.seeds : 0),
            secondsPerTrial: spread,
            priciest: (priciest, trialSeconds(priciest)),
            wallSeconds: (wall(share: 1), wall(share: share)),
            workers: slots,
            pruningShare: share,
            epochsPriced: epochs,
            pace: pace,
            assumptions: assumptions,
            warnings: warnings
        )
    }

    /// A random configuration drawn from `rng` (to pick calibration models).
    public func randomConfigForPlanning(rng: inout SeededGenerator) -> TrialConfig { randomConfig(rng: &rng) }

    /// Distinct configurations when every parameter is discrete; nil when one is continuous.
    var discreteSize: Int? {
        for p in space {
            if case .perLayer(let inner) = p.domain, inner.gridValues == nil { return nil }
            if case .perLayer = p.domain { continue }
            if p.domain.gridValues == nil { return nil }
            if case .float(_, _, _, nil) = p.domain { return nil }
        }
        if space.contains(where: { if case .float = $0.domain { return true } else { return false } }) { return nil }
        return GridSampler.distinctSize(of: self)
    }
}

extension TrialConfig {
    /// `cell=lstm, depth=3, …` in name order.
    public var compactDescription: String {
        values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ", ")
    }
}

/// Greedy list scheduling: each run goes to the slot that frees first.
struct SlotSchedule {
    private var free: [Double]
    init(slots: Int) { free = Array(repeating: 0, count: slots) }

    /// Places a run of `seconds` that cannot start before `notBefore`; returns its end.
    mutating func add(_ seconds: Double, notBefore: Double) -> Double {
        let i = free.indices.min { free[$0] < free[$1] }!
        let end = max(free[i], notBefore) + seconds
        free[i] = end
        return end
    }

    var makespan: Double { free.max() ?? 0 }
}
