import Foundation
import RecurEngine
import Testing

@testable import RecurForecast

/// Windows, splits and normalization on series small enough to check by hand.
@Suite struct WindowTests {
    /// 30 hourly rows; column `a` = row index, `b` = 100 + row index.
    static func tinySeries(rows: Int = 30) -> TimeSeries {
        TimeSeries(
            columns: ["a", "b"],
            timestamps: (0..<rows).map { 3600 * Int64($0) },
            values: (0..<rows).flatMap { [Double($0), 100 + Double($0)] },
            step: 3600,
            interpolatedRows: 0
        )
    }

    static func tinyTask(length: Int = 3, rate: Int = 2, horizon: Int = 2) throws -> PreparedTask {
        var spec = TaskSpec(dataset: "tiny.csv", target: "a")
        spec.sequenceLength = length
        spec.samplingRate = rate
        spec.horizon = horizon
        return try PreparedTask(spec: spec, series: tinySeries(), featureNames: ["a", "b"])
    }

    @Test func windowIndicesMatchAHandCount() throws {
        let task = try Self.tinyTask()
        // 30 rows → train [0, 15), validation [15, 22), test [22, 30); a window spans (3−1)·2 + 2 + 1 = 7 rows.
        #expect(task.rowRanges == [0..<15, 15..<22, 22..<30])
        #expect(task.spec.windowSpan == 7)
        #expect(task.windowStarts(.train) == 0..<9)  // the last, at 8, reads rows 8, 10, 12 and targets row 14
        #expect(task.windowStarts(.validation) == 15..<16)
        #expect(task.windowStarts(.test) == 22..<24)
        #expect(task.lastInputRow(3) == 7 && task.targetRow(3) == 9)
        var x = [Float](repeating: 0, count: 2 * 3 * 2)
        var y = [Float](repeating: 0, count: 2)
        task.gather([0, 3], x: &x, y: &y)
        // Un-standardize column a to read the row numbers back.
        let (m, s) = (task.normalization.mean[0], task.normalization.std[0])
        let rows = stride(from: 0, to: x.count, by: 2).map { Int((Double(x[$0]) * s + m).rounded()) }
        #expect(rows == [0, 2, 4, 3, 5, 7])
        let targets = y.map { Int((Double($0) * task.normalization.targetStd + task.normalization.targetMean).rounded()) }
        #expect(targets == [6, 9])
    }

    @Test func splitsThatCannotHoldAWindowAreRefused() throws {
        #expect(throws: ForecastError.self) { try Self.tinyTask(length: 4, rate: 2, horizon: 2) }  // span 9 > 7 validation rows
    }

    /// The same alignment as Keras `timeseries_dataset_from_array(data[:-delay], targets=series[delay:])`,
    /// delay = (L−1)·r + horizon: window j starts at row j and its target is series[j + delay].
    @Test func alignmentMatchesKerasTimeseriesDataset() throws {
        let task = try Self.tinyTask(length: 3, rate: 1, horizon: 1)
        let delay = (3 - 1) * 1 + 1
        for j in task.windowStarts(.train) { #expect(task.targetRow(j) == j + delay) }
    }

    @Test func noWindowCrossesASplit() throws {
        for (length, rate, horizon) in [(3, 1, 1), (2, 2, 3), (1, 1, 1), (3, 2, 2)] {
            let task = try Self.tinyTask(length: length, rate: rate, horizon: horizon)
            for split in PreparedTask.Split.allCases {
                let rows = task.rowRanges[split.rawValue]
                for s in task.windowStarts(split) {
                    #expect(rows.contains(s) && rows.contains(task.targetRow(s)), "split \(split), start \(s)")
                }
                // The first start after the range would leave the split.
                #expect(!rows.contains(task.targetRow(task.windowStarts(split).upperBound)))
            }
        }
    }

    @Test func normalizationUsesTrainingRowsOnly() throws {
        let task = try Self.tinyTask()
        #expect(abs(task.normalization.mean[0] - 7) < 1e-12)  // mean of rows 0…14
        #expect(abs(task.normalization.std[0] - (224.0 / 12).squareRoot()) < 1e-12)  // population std of 0…14
        var changed = Self.tinySeries()
        for r in 15..<30 {
            changed.values[r * 2] = 1e6
            changed.values[r * 2 + 1] = -1e6
        }
        let other = try PreparedTask(spec: task.spec, series: changed, featureNames: ["a", "b"])
        #expect(other.normalization == task.normalization)
    }

    @Test func baselinesOnAHandCheckableSeries() throws {
        // Column a = row index: persistence is off by exactly (horizon) = 2 rows → MAE 2.
        let task = try Self.tinyTask()
        let b = task.baselines()
        #expect(abs(b.persistence.valMAE - 2) < 1e-12 && abs(b.persistence.testMAE - 2) < 1e-12)
        // Train mean 7; the one validation window (start 15) targets row 21 → |21 − 7| = 14.
        #expect(abs(b.trainMean.valMAE - 14) < 1e-12)
    }

    /// The tiny task with rows flagged as filled by interpolation, and row 28's value replaced.
    static func gappedTask(filled: [Int], row28: Double = 28) throws -> PreparedTask {
        var series = tinySeries()
        series.filledRows = (0..<30).map { filled.contains($0) }
        series.interpolatedRows = filled.count
        series.values[28 * 2] = row28
        return try PreparedTask(spec: try tinyTask().spec, series: series, featureNames: ["a", "b"])
    }

    @Test func windowsWhoseTargetWasFilledAreNotScored() throws {
        // Test windows start at 22 and 23 and target rows 28 and 29.
        let task = try Self.gappedTask(filled: [28])
        #expect(task.scoredStarts(.test) == [23] && task.unscoredCount(.test) == 1)
        #expect(task.scoredStarts(.validation) == [15] && Array(task.windowStarts(.train)) == Array(0..<9))
        // Train mean 7: only start 23 (target 29) is scored, |29 − 7| = 22, not (21 + 22) / 2.
        #expect(abs(task.baselines().trainMean.testMAE - 22) < 1e-12)

        // The model's test score ignores the filled target's value; an observed row's value counts.
        func testScore(_ task: PreparedTask) throws -> Double {
            var settings = TrainingSettings()
            settings.seed = 5
            return try Trainer(task: task, spec: try Architecture(cell: .gru, units: [2]).modelSpec(features: 2), settings: settings).evaluate(.test)
                .mae
        }
        #expect(try testScore(task) == testScore(try Self.gappedTask(filled: [28], row28: 1e4)))
        #expect(try testScore(try Self.gappedTask(filled: [])) != testScore(try Self.gappedTask(filled: [], row28: 1e4)))
    }

    @Test func aSplitWithOnlyFilledTargetsIsRefused() throws {
        // The one validation window targets row 21.
        #expect {
            try Self.gappedTask(filled: [21])
        } throws: { error in
            "\(error)".contains("every validation window targets a row filled by interpolation")
        }
    }
}
