import Foundation
import RecurEngine
import Testing

@testable import RecurForecast

/// `target_mode`: the model predicts the change from a reference (the last observed value, or
/// the value one season back), and everything it reports stays in the target's own units.
@Suite struct TargetModeTests {
    /// A daily cycle on a steady trend, hourly: `y[t] = 0.1·t + 5·sin(2πt/24)`. One day back the
    /// cycle repeats exactly, so the seasonal change over 24 rows is the trend's, 2.4, always.
    static func trendAndCycle(_ t: Int) -> Double { 0.1 * Double(t) + 5 * sin(Double(t) * 2 * .pi / 24) }

    static func task(_ mode: TaskSpec.TargetMode, season: Int? = nil, rows: Int = 900) throws -> PreparedTask {
        let series = hourlySeries(rows: rows, y: trendAndCycle)
        var spec = TaskSpec(dataset: "synthetic", target: "y")
        spec.sequenceLength = 30
        spec.horizon = 6
        spec.targetMode = mode
        spec.season = season
        return try PreparedTask(spec: spec, series: series, featureNames: ["y", "c"])
    }

    /// The standardized model target, de-standardized and added to its reference, is the series.
    @Test(arguments: [TaskSpec.TargetMode.level, .delta, .seasonalDelta])
    func theModelTargetPlusItsReferenceIsTheTarget(_ mode: TaskSpec.TargetMode) throws {
        let task = try Self.task(mode)
        let n = task.normalization
        for split in PreparedTask.Split.allCases {
            for start in task.windowStarts(split) {
                let row = task.targetRow(start)
                let back = Double(task.target[row]) * n.targetStd + n.targetMean + task.reference(targetRow: row)
                #expect(abs(back - task.rawTarget[row]) < 1e-3, "\(mode) row \(row)")
            }
        }
        #expect(task.baselines() == (try Self.task(.level)).baselines(), "persistence does not depend on what the model predicts")
    }

    /// On this series the seasonal change is the constant 2.4: its standardized target is 0
    /// everywhere, so a model that outputs 0 forecasts exactly — and its MAE, reported in the
    /// target's units, is 0, while persistence's is not.
    @Test func aSeasonalModelThatOutputsZeroIsExactHere() throws {
        let task = try Self.task(.seasonalDelta, season: 24)
        #expect(abs(task.normalization.targetMean - 2.4) < 1e-6)
        #expect(task.windowStarts(.validation).allSatisfy { abs(task.target[task.targetRow($0)]) < 1e-3 })
        let spec = try Architecture(cell: .gru, units: [4]).modelSpec(features: 2)
        var settings = TrainingSettings()
        settings.epochs = 1
        let trainer = try Trainer(task: task, spec: spec, settings: settings)
        let p = trainer.model.parameters
        p.flatValues = [Float](repeating: 0, count: p.count)
        let (_, mae) = trainer.evaluate(.validation)
        #expect(mae < 1e-3, "MAE \(mae)")
        #expect(task.baselines().persistence.valMAE > 1)
        // A forecast from a checkpoint adds the reference back from the data it is given.
        let data = hourlySeries(rows: 200, y: Self.trendAndCycle)
        let checkpoint = ForecastCheckpoint(prepared: task, task: task.spec)
        let forecast = try Forecast.make(model: trainer.model, checkpoint: checkpoint, series: data)
        let scored = forecast.rows.compactMap { r in r.actual.map { abs($0 - r.forecast) } }
        #expect(!scored.isEmpty && scored.allSatisfy { $0 < 1e-3 }, "\(scored.max() ?? -1)")
    }

    @Test func aSeasonMustBeObservedAndInsideTheWindow() {
        var spec = TaskSpec(dataset: "d.csv", target: "y")
        spec.sequenceLength = 30
        spec.horizon = 6
        spec.targetMode = .seasonalDelta
        spec.season = 3
        #expect(spec.problems().contains { $0.hasPrefix("task.season: 3 is shorter than the horizon 6") })
        spec.season = 200
        #expect(spec.problems().contains { $0.hasPrefix("task.season: 200 reaches before the window") })
        spec.season = 24
        #expect(spec.problems().isEmpty)
    }
}
