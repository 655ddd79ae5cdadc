import Foundation
import RecurEngine
import Testing

@testable import RecurForecast

@Suite struct TrainerTests {
    /// A noisy two-frequency signal with a lagged second feature: learnable, small, fast.
    static func task(rows: Int = 1200) throws -> PreparedTask {
        var rng = SeededGenerator(seed: 3)
        let series = hourlySeries(rows: rows) { i in
            sin(Double(i) * 2 * .pi / 24) + 0.5 * sin(Double(i) * 2 * .pi / 7) + rng.nextNormal() * 0.05
        }
        var spec = TaskSpec(dataset: "synthetic", target: "y")
        spec.sequenceLength = 24
        spec.horizon = 3
        return try PreparedTask(spec: spec, series: series, featureNames: ["y", "c"])
    }

    static func settings(epochs: Int = 6) -> TrainingSettings {
        var s = TrainingSettings()
        s.epochs = epochs
        s.batchSize = 32
        s.optimizer = OptimizerConfig(kind: .adam, learningRate: 0.01)
        return s
    }

    @Test func learnsAndBeatsTheBaselines() throws {
        let task = try Self.task()
        let spec = try Architecture(cell: .gru, units: [16]).modelSpec(features: 2)
        let trainer = try Trainer(task: task, spec: spec, settings: Self.settings())
        var reports: [EpochReport] = []
        let result = try trainer.run(onEpoch: {
            reports.append($0)
            return .proceed
        })
        #expect(reports.count == result.epochsRun && reports.map(\.epoch) == Array(1...result.epochsRun))
        #expect(result.valMAE < result.baselines.persistence.valMAE)
        #expect(result.testMAE < result.baselines.persistence.testMAE)
        #expect(reports.allSatisfy { $0.samplesPerSecond > 0 && $0.seconds > 0 && $0.trainLoss.isFinite })
    }

    /// The reported validation MAE is that of the restored best weights.
    @Test func restoresTheBestWeights() throws {
        let task = try Self.task()
        let trainer = try Trainer(
            task: task,
            spec: try Architecture(cell: .lstm, units: [8]).modelSpec(features: 2),
            settings: Self.settings(epochs: 5)
        )
        let result = try trainer.run()
        let best = result.history.min { $0.valMAE < $1.valMAE }!
        #expect(result.bestEpoch == best.epoch)
        #expect(abs(trainer.evaluate(.validation).mae - result.valMAE) < 1e-9)
        #expect(abs(trainer.evaluate(.test).mae - result.testMAE) < 1e-9)
    }

    @Test func theCallbackCanStopTraining() throws {
        let trainer = try Trainer(
            task: try Self.task(),
            spec: try Architecture(cell: .simpleRNN, units: [4]).modelSpec(features: 2),
            settings: Self.settings(epochs: 8)
        )
        let result = try trainer.run(onEpoch: { $0.epoch == 2 ? .stop : .proceed })
        #expect(result.epochsRun == 2 && result.stopReason == "stopped")
    }

    /// `interrupt` abandons training mid-epoch: no report for the abandoned epoch, an error that
    /// names it, and not one batch more.
    @Test func anInterruptAbandonsTheEpochAtTheNextBatch() throws {
        let task = try Self.task()
        let spec = try Architecture(cell: .gru, units: [8]).modelSpec(features: 2)
        let trainer = try Trainer(task: task, spec: spec, settings: Self.settings(epochs: 5))
        var reports: [Int] = []
        var batches = 0
        let perEpoch = (task.windowStarts(.train).count + 31) / 32
        #expect(perEpoch > 3)
        #expect(throws: TrainingInterrupted.self) {
            _ = try trainer.run(
                interrupt: { epoch in epoch == 2 && batches == perEpoch + 3 },
                onBatch: { _, _, _, _ in batches += 1 },
                onEpoch: {
                    reports.append($0.epoch)
                    return .proceed
                }
            )
        }
        #expect(reports == [1])
        #expect(batches == perEpoch + 3)
        let error = #expect(throws: TrainingInterrupted.self) { _ = try trainer.run(interrupt: { $0 == 3 }) }
        #expect(error?.epoch == 3)
    }

    @Test func earlyStoppingFollowsKerasPatience() throws {
        var settings = Self.settings(epochs: 30)
        settings.optimizer = OptimizerConfig(kind: .sgd, learningRate: 1e-6)  // barely moves: no improvement after epoch 1
        settings.earlyStopping = EarlyStopping(monitor: .valLoss, patience: 2, minDelta: 1)
        let trainer = try Trainer(task: try Self.task(), spec: try Architecture(cell: .gru, units: [4]).modelSpec(features: 2), settings: settings)
        let result = try trainer.run()
        #expect(result.epochsRun == 3 && result.stopReason == "early_stopping" && result.bestEpoch == 1)
    }

    /// Keras stops only after an epoch that did not improve: patience 0 keeps training while the
    /// loss falls and stops at the first epoch that is no better.
    @Test func patienceZeroStopsAtTheFirstEpochWithoutImprovement() throws {
        var settings = Self.settings(epochs: 8)
        settings.earlyStopping = EarlyStopping(monitor: .valLoss, patience: 0, minDelta: 0)
        let trainer = try Trainer(task: try Self.task(), spec: try Architecture(cell: .gru, units: [8]).modelSpec(features: 2), settings: settings)
        let result = try trainer.run()
        let losses = result.history.map(\.valLoss)
        #expect(result.epochsRun > 1, "stopped after epoch 1 although it improved: \(losses)")
        let firstWorse = (1..<losses.count).first { losses[$0] >= losses[..<$0].min()! }
        if let firstWorse {
            #expect(result.epochsRun == firstWorse + 1, "losses \(losses)")
            #expect(result.epochsRun == 8 || result.stopReason == "early_stopping")
        } else {
            #expect(result.epochsRun == 8, "losses \(losses)")
        }

        settings.optimizer = OptimizerConfig(kind: .sgd, learningRate: 1e-6)
        settings.earlyStopping = EarlyStopping(monitor: .valLoss, patience: 0, minDelta: 1)  // no epoch after the first improves by 1
        let flat = try Trainer(task: try Self.task(), spec: try Architecture(cell: .gru, units: [4]).modelSpec(features: 2), settings: settings).run()
        #expect(flat.epochsRun == 2 && flat.stopReason == "early_stopping")
    }

    /// `recur predict` trusts nothing in a checkpoint: statistics that do not match its features
    /// or its model are one-line errors, not a crash.
    @Test func corruptCheckpointMetadataIsRefused() throws {
        let task = TaskSpec(dataset: "d.csv", target: "y")
        let good = Normalization(features: ["y", "c"], mean: [0, 0], std: [1, 1], target: "y", targetMean: 0, targetStd: 1)
        _ = try ForecastCheckpoint(metadata: ForecastCheckpoint(task: task, normalization: good).metadata())
        var noMeans = good
        noMeans.mean = []
        var zeroStd = good
        zeroStd.std = [0, 1]
        var badTask = task
        badTask.horizon = 0
        for (t, n, message) in [
            (task, noMeans, "2 features but 0 means"), (task, zeroStd, "stds finite and > 0"),
            (badTask, good, "checkpoint task.horizon: 0 must be ≥ 1"),
        ] {
            #expect(throws: ForecastError.self) { try ForecastCheckpoint(metadata: ForecastCheckpoint(task: t, normalization: n).metadata()) }
            do { _ = try ForecastCheckpoint(metadata: ForecastCheckpoint(task: t, normalization: n).metadata()) } catch {
                #expect("\(error)".contains(message), "got \(error)")
            }
        }
        // A row spacing past a century would overflow the forecast's target time (it once crashed predict).
        var metadata = ForecastCheckpoint(task: task, normalization: good).metadata()
        for step in ["9223372036854775807", "0", "-3600", "1.5"] {
            metadata["step_seconds"] = step
            #expect(throws: ForecastError.self) { try ForecastCheckpoint(metadata: metadata) }
        }
        metadata["step_seconds"] = "3600"
        #expect(try ForecastCheckpoint(metadata: metadata).stepSeconds == 3600)
        var unreadable = metadata
        unreadable["normalization"] = #"{"mean": [NaN]}"#
        #expect(throws: ForecastError.self) { try ForecastCheckpoint(metadata: unreadable) }
        do { _ = try ForecastCheckpoint(metadata: unreadable) } catch { #expect("\(error)".contains("its normalization metadata is unreadable")) }
        let model = try SequentialModel(
            spec: ModelSpec(inputFeatures: 3, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 2)), .dense(units: 1)]),
            seed: 1
        )
        let series = TimeSeries(
            columns: ["y", "c"],
            timestamps: (0..<200).map { Int64($0) * 3600 },
            values: Array(repeating: 0.5, count: 400),
            step: 3600,
            interpolatedRows: 0
        )
        #expect(throws: ForecastError.self) {
            try Forecast.make(model: model, checkpoint: ForecastCheckpoint(task: task, normalization: good), series: series)
        }
    }

    @Test func divergenceFailsFastWithAClearError() throws {
        var settings = Self.settings(epochs: 3)
        settings.optimizer = OptimizerConfig(kind: .sgd, learningRate: 1e30)
        let trainer = try Trainer(
            task: try Self.task(),
            spec: try Architecture(cell: .simpleRNN, units: [4]).modelSpec(features: 2),
            settings: settings
        )
        do {
            _ = try trainer.run()
            Issue.record("a diverging run finished")
        } catch {
            #expect("\(error)".contains("training diverged"), "got \(error)")
        }
    }

    @Test func sameSeedSameResult() throws {
        let task = try Self.task(rows: 600)
        func run() throws -> TrainingResult {
            var r = try Trainer(
                task: task,
                spec: try Architecture(cell: .gru, units: [8], recurrentDropout: 0.3).modelSpec(features: 2),
                settings: Self.settings(epochs: 2)
            ).run()
            r.seconds = 0
            for i in r.history.indices {
                r.history[i].seconds = 0
                r.history[i].samplesPerSecond = 0
            }
            return r
        }
        #expect(try run() == run())
    }
}
