import Foundation
import RecurEngine
import Testing

@testable import RecurForecast

@Suite struct TrainerTests {
    /// A noisy two-frequency signal with a lagged second feature: learnable, small, fast.
    static func task(rows: Int = 1200) throws -> PreparedTask {
        var rng = SeededGenerator(seed: 3)
        var values: [Double] = []
        for i in 0..<rows {
            let s = sin(Double(i) * 2 * .pi / 24) + 0.5 * sin(Double(i) * 2 * .pi / 7) + rng.nextNormal() * 0.05
            values.append(s)
            values.append(cos(Double(i) * 2 * .pi / 24))
        }
        let series = TimeSeries(columns: ["y", "c"], timestamps: (0..<rows).map { Int64($0) * 3600 }, values: values, step: 3600, interpolatedRows: 0)
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
        let result = try trainer.run(onEpoch: { reports.append($0); return .proceed })
        #expect(reports.count == result.epochsRun && reports.map(\.epoch) == Array(1...result.epochsRun))
        #expect(result.valMAE < result.baselines.persistence.valMAE)
        #expect(result.testMAE < result.baselines.persistence.testMAE)
        #expect(reports.allSatisfy { $0.samplesPerSecond > 0 && $0.seconds > 0 && $0.trainLoss.isFinite })
    }

    /// The reported validation MAE is that of the restored best weights.
    @Test func restoresTheBestWeights() throws {
        let task = try Self.task()
        let trainer = try Trainer(task: task, spec: try Architecture(cell: .lstm, units: [8]).modelSpec(features: 2), settings: Self.settings(epochs: 5))
        let result = try trainer.run()
        let best = result.history.min { $0.valMAE < $1.valMAE }!
        #expect(result.bestEpoch == best.epoch)
        #expect(abs(trainer.evaluate(.validation).mae - result.valMAE) < 1e-9)
        #expect(abs(trainer.evaluate(.test).mae - result.testMAE) < 1e-9)
    }

    @Test func theCallbackCanStopTraining() throws {
        let trainer = try Trainer(task: try Self.task(), spec: try Architecture(cell: .simpleRNN, units: [4]).modelSpec(features: 2), settings: Self.settings(epochs: 8))
        let result = try trainer.run(onEpoch: { $0.epoch == 2 ? .stop : .proceed })
        #expect(result.epochsRun == 2 && result.stopReason == "stopped")
    }

    @Test func earlyStoppingFollowsKerasPatience() throws {
        var settings = Self.settings(epochs: 30)
        settings.optimizer = OptimizerConfig(kind: .sgd, learningRate: 1e-6)  // barely moves: no improvement after epoch 1
        settings.earlyStopping = EarlyStopping(monitor: .valLoss, patience: 2, minDelta: 1)
        let trainer = try Trainer(task: try Self.task(), spec: try Architecture(cell: .gru, units: [4]).modelSpec(features: 2), settings: settings)
        let result = try trainer.run()
        #expect(result.epochsRun == 3 && result.stopReason == "early_stopping" && result.bestEpoch == 1)
    }

    @Test func divergenceFailsFastWithAClearError() throws {
        var settings = Self.settings(epochs: 3)
        settings.optimizer = OptimizerConfig(kind: .sgd, learningRate: 1e30)
        let trainer = try Trainer(task: try Self.task(), spec: try Architecture(cell: .simpleRNN, units: [4]).modelSpec(features: 2), settings: settings)
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
            var r = try Trainer(task: task, spec: try Architecture(cell: .gru, units: [8], recurrentDropout: 0.3).modelSpec(features: 2), settings: Self.settings(epochs: 2)).run()
            r.seconds = 0
            for i in r.history.indices { r.history[i].seconds = 0; r.history[i].samplesPerSecond = 0 }
            return r
        }
        #expect(try run() == run())
    }
}
