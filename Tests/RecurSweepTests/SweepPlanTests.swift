import Foundation
import RecurEngine
import RecurForecast
import Testing

@testable import RecurSweep

/// `recur sweep plan`'s arithmetic, on a calibration given by hand so every figure can be worked
/// out on paper.
@Suite struct SweepPlanTests {
    static func spec(_ extra: String = "", search: String = "{method: grid, max_parallel: 4}", space: String? = nil) throws -> SweepSpec {
        try SweepSpec.parse(
            yaml: """
                name: p
                task: {dataset: d.csv, target: y, sequence_length: 10, horizon: 1}
                search: \(search)
                space:
                \(space ?? "  cell: {choice: [simple_rnn, lstm]}\n  units: {choice: [8, 16]}")
                training: {epochs: 10, batch_size: 32, early_stopping: false}
                \(extra)
                """
        )
    }

    /// t(F) = F · 1e-9 s exactly: one point through the origin's line in log–log space.
    static let linear = CostCalibration(points: [
        .init(flopsPerSample: 1e6, secondsPerSample: 1e-3), .init(flopsPerSample: 4e6, secondsPerSample: 4e-3),
    ])
    static let windows = WindowCounts(train: 300, validation: 90, test: 30)

    @Test func calibrationInterpolatesInLogLogSpace() {
        let c = CostCalibration(points: [.init(flopsPerSample: 1e6, secondsPerSample: 1e-4), .init(flopsPerSample: 1e8, secondsPerSample: 1e-3)])
        // Slope 0.5 in log–log: ×100 FLOPs is ×10 seconds, ×10 FLOPs is ×√10.
        #expect(abs(c.secondsPerSample(flops: 1e7) - 1e-4 * 10.0.squareRoot()) < 1e-12)
        // Extrapolated along the end segments.
        #expect(abs(c.secondsPerSample(flops: 1e10) - 1e-2) < 1e-12)
        #expect(abs(c.secondsPerSample(flops: 1e4) - 1e-5) < 1e-15)
        #expect(abs(Self.linear.secondsPerSample(flops: 2.5e6) - 2.5e-3) < 1e-12)
    }

    @Test func aRunCostsItsEpochsOfTrainingAndAThirdForEvaluation() throws {
        let spec = try Self.spec()
        // 10 × (300 + 90/3) + 30/3 = 3310 windows at 1 ms.
        #expect(abs(spec.runSeconds(flops: 1e6, windows: Self.windows, epochs: 10, calibration: Self.linear) - 3.31) < 1e-9)
    }

    /// With what earlier runs took beyond their epochs, that replaces the test pass: 10 × (300 +
    /// 90/3) windows at 1 ms and 0.5 s.
    @Test func aMeasuredRunOverheadReplacesTheTestPass() throws {
        let spec = try Self.spec(space: "  cell: lstm\n  units: 8")
        #expect(abs(spec.runSeconds(flops: 1e6, windows: Self.windows, epochs: 10, calibration: Self.linear, overhead: 0.5) - 3.8) < 1e-9)
        let flops = spec.flopsPerSample(TrialConfig(["cell": .string("lstm"), "units": .int(8)]), features: 1)
        let priced = spec.plan(
            workers: 1,
            features: 1,
            windows: { _ in Self.windows },
            calibration: Self.linear,
            runOverhead: (seconds: 0.5, runs: 8),
            spaceSamples: 5
        )
        let expected = spec.runSeconds(flops: flops, windows: Self.windows, epochs: 10, calibration: Self.linear, overhead: 0.5)
        #expect(abs(priced.wallSeconds.noPruning - expected) < 1e-9)
        #expect(priced.assumptions.contains { $0.hasPrefix("each run adds 0.50 s beyond its epochs") && $0.contains("median of 8 runs") })
        let plain = spec.plan(workers: 1, features: 1, windows: { _ in Self.windows }, calibration: Self.linear, spaceSamples: 5)
        #expect(abs(plain.wallSeconds.noPruning - spec.runSeconds(flops: flops, windows: Self.windows, epochs: 10, calibration: Self.linear)) < 1e-9)
        #expect(plain.assumptions.contains { $0.contains("starting and finishing runs is not priced") })
    }

    /// Earlier runs' epochs against the calibration's price for them (0.33 s an epoch at 1e6
    /// FLOPs on these windows): ratios 1.2, 1.5 and 3.0, median 1.5; a run without seconds is left
    /// out. The plan then prices epochs 1.5× as long, and the measured overhead as it is.
    @Test func aMeasuredPaceScalesTheEpochsNotTheOverhead() throws {
        let ran = [(10, 3.96), (4, 1.98), (1, 0.99), (3, 0)].map {
            CostCalibration.RanEpochs(flops: 1e6, windows: Self.windows, epochs: $0.0, seconds: $0.1)
        }
        let pace = try #require(Self.linear.pace(of: ran))
        #expect(pace.runs == 3 && abs(pace.factor - 1.5) < 1e-9)
        #expect(Self.linear.pace(of: []) == nil)

        let spec = try Self.spec(space: "  cell: lstm\n  units: 8")
        let flops = spec.flopsPerSample(TrialConfig(["cell": .string("lstm"), "units": .int(8)]), features: 1)
        let priced = spec.plan(
            workers: 1,
            features: 1,
            windows: { _ in Self.windows },
            calibration: Self.linear,
            runOverhead: (seconds: 0.5, runs: 8),
            pace: pace,
            spaceSamples: 5
        )
        let epochs = Self.linear.epochSeconds(flops: flops, windows: Self.windows) * 10
        #expect(abs(priced.wallSeconds.noPruning - (1.5 * epochs + 0.5)) < 1e-9)
        #expect(priced.pace?.runs == 3)
        #expect(priced.assumptions.contains { $0.contains("the pace 3 runs on this task") && $0.contains("1.50× this calibration's") })
    }

    /// A grid of four known models on two workers: the wall time is the greedy schedule of
    /// their costs in grid order.
    @Test func aGridPlanSchedulesItsPointsOnTheWorkers() throws {
        let spec = try Self.spec()
        let plan = spec.plan(workers: 2, features: 1, windows: { _ in Self.windows }, calibration: Self.linear, spaceSamples: 50)
        let cost = { (cell: String, units: Int) -> Double in
            let config = TrialConfig(["cell": .string(cell), "units": .int(units)])
            return spec.runSeconds(flops: spec.flopsPerSample(config, features: 1), windows: Self.windows, epochs: 10, calibration: Self.linear)
        }
        let (a, b, c, d) = (cost("simple_rnn", 8), cost("simple_rnn", 16), cost("lstm", 8), cost("lstm", 16))
        #expect(plan.trials == 4 && plan.workers == 2 && plan.runsPerTrial == 1)
        #expect(plan.secondsPerTrial.min == a && plan.secondsPerTrial.max == d)
        #expect(plan.priciest.config == TrialConfig(["cell": .string("lstm"), "units": .int(16)]))
        // The grid is leased priciest first: d, c, b, a; each goes to the slot that frees first.
        #expect(d > c && c > b && b > a)
        var free = [d, c]
        free[free[0] <= free[1] ? 0 : 1] += b
        free[free[0] <= free[1] ? 0 : 1] += a
        #expect(abs(plan.wallSeconds.noPruning - free.max()!) < 1e-9)
        #expect(plan.wallSeconds.withPruning == plan.wallSeconds.noPruning && plan.pruningShare == 1)
        #expect(plan.warnings.isEmpty)
    }

    @Test func maxParallelCapsTheWorkers() throws {
        let spec = try Self.spec(search: "{method: grid, max_parallel: 1}")
        let plan = spec.plan(workers: 8, features: 1, windows: { _ in Self.windows }, calibration: Self.linear, spaceSamples: 10)
        #expect(plan.workers == 1)
        let total = spec.plannedConfigs().map {
            spec.runSeconds(flops: spec.flopsPerSample($0, features: 1), windows: Self.windows, epochs: 10, calibration: Self.linear)
        }.reduce(0, +)
        #expect(abs(plan.wallSeconds.noPruning - total) < 1e-9)
        #expect(plan.assumptions.contains { $0.contains("max_parallel 1 caps the 8 workers") })
    }

    /// ASHA with η = 3 from epoch 1 on 10 epochs: rungs 1, 3, 9, then 10; expected epochs
    /// 1 + (3−1)/3 + (9−3)/9 + (10−9)/27.
    @Test func pruningSharesFollowTheirStatedAssumptions() throws {
        let asha = try Self.spec("pruning: {method: asha, min_epochs: 1, reduction_factor: 3}").pruningShare
        #expect(abs(asha.share - (1 + 2.0 / 3 + 6.0 / 9 + 1.0 / 27) / 10) < 1e-12)
        let median = try Self.spec("pruning: {method: median, warmup: 2}").pruningShare
        // Half the trials stop at (2 + 10) / 2 = 6 of 10 epochs.
        #expect(abs(median.share - 0.8) < 1e-12)
        #expect(try Self.spec().pruningShare.share == 1)
    }

    @Test func foldsSeedsAndRefitsMultiplyTheRuns() throws {
        let spec = try Self.spec("evaluation: {folds: {method: rolling_origin, count: 3}, seeds: 2, refit: true}")
        let fold = WindowCounts(train: 200, validation: 50, test: 30)
        let plan = spec.plan(
            workers: 1,
            features: 1,
            windows: { $0 == .refit ? Self.windows : fold },
            calibration: Self.linear,
            spaceSamples: 10
        )
        #expect(plan.runsPerTrial == 3 * 2 + 2)
        let config = spec.corner(pricier: false) { spec.flopsPerSample($0, features: 1) }
        let flops = spec.flopsPerSample(config, features: 1)
        let expected =
            6 * spec.runSeconds(flops: flops, windows: fold, epochs: 10, calibration: Self.linear) + 2
            * spec.runSeconds(flops: flops, windows: Self.windows, epochs: 10, calibration: Self.linear)
        #expect(abs(plan.secondsPerTrial.min - expected) < 1e-9)
    }

    @Test func warnsOfAPriceyCornerAndASmallSpace() throws {
        let spec = try Self.spec(
            search: "{method: random, max_trials: 20}",
            space: "  cell: {choice: [simple_rnn, lstm]}\n  units: {choice: [4, 5, 6, 7, 8, 256]}"
        )
        let plan = spec.plan(workers: 2, features: 1, windows: { _ in Self.windows }, calibration: Self.linear, spaceSamples: 200)
        #expect(plan.warnings.contains { $0.contains("the priciest corner (cell=lstm, units=256)") }, "\(plan.warnings)")
        #expect(plan.warnings.contains { $0.contains("the space holds 12 distinct configurations, fewer than max_trials 20") }, "\(plan.warnings)")
        let continuous = try Self.spec(search: "{method: random, max_trials: 10}", space: "  learning_rate: {float: [1.0e-4, 1.0e-2]}")
        #expect(continuous.plan(workers: 1, features: 1, windows: { _ in Self.windows }, calibration: Self.linear, spaceSamples: 10).warnings.isEmpty)
    }

    /// Alone or on two threads at once (as two workers will train), every model gets one rate,
    /// the pricier model the higher.
    @Test(arguments: [1, 2])
    func measuringACalibrationStaysWithinItsBudgetInWork(concurrency: Int) throws {
        let small = try Architecture(cell: .gru, units: [4]).modelSpec(features: 2)
        let large = try Architecture(cell: .lstm, units: [32, 32], depth: 2).modelSpec(features: 2)
        let c = try CostCalibration.measure(models: [(small, 32), (large, 32)], steps: 12, concurrency: concurrency, budget: 0.4)
        #expect(c.points.count == 2)
        #expect(c.points[0].secondsPerSample > 0 && c.points[1].secondsPerSample > c.points[0].secondsPerSample)
    }

    /// With early stopping and history on the task, runs are priced at the share of epochs
    /// earlier trials trained; without early stopping, history changes nothing.
    @Test func earlyStoppingHistoryShortensThePricedEpochs() throws {
        let stopping = try SweepSpec.parse(
            yaml: """
                name: p
                task: {dataset: d.csv, target: y, sequence_length: 10, horizon: 1}
                search: {method: grid}
                space: {cell: lstm, units: 8}
                training: {epochs: 10, batch_size: 32, early_stopping: {patience: 2}}
                """
        )
        let full = stopping.plan(workers: 1, features: 1, windows: { _ in Self.windows }, calibration: Self.linear, spaceSamples: 5)
        let short = stopping.plan(
            workers: 1,
            features: 1,
            windows: { _ in Self.windows },
            calibration: Self.linear,
            earlyStopping: (share: 0.6, trials: 12),
            spaceSamples: 5
        )
        #expect(full.epochsPriced == 10 && short.epochsPriced == 6)
        let flops = stopping.flopsPerSample(TrialConfig(["cell": .string("lstm"), "units": .int(8)]), features: 1)
        #expect(
            abs(short.wallSeconds.noPruning - stopping.runSeconds(flops: flops, windows: Self.windows, epochs: 6, calibration: Self.linear)) < 1e-9
        )
        #expect(short.assumptions[0] == "early stopping: runs train 60 % of their 10 epochs, as 12 completed trials on this task in the database did")
        let plain = try Self.spec()
        #expect(
            plain.plan(workers: 1, features: 1, windows: { _ in Self.windows }, calibration: Self.linear, earlyStopping: (0.6, 12), spaceSamples: 5)
                .epochsPriced == 10
        )
    }
}
