import Foundation
import Testing

@testable import RecurForecast

/// Rolling-origin folds and refits: which rows each model trains, validates and tests on.
@Suite struct SplitLayoutTests {
    /// Expanding windows: the validation windows are equal, contiguous and end where the test
    /// split begins; fold k trains on every row before its window; the test split is the task's.
    @Test(arguments: [(1000, 2), (1000, 3), (8760, 3), (8760, 5), (997, 4)])
    func foldsTileThePreTestPartAndLeaveTheTestAlone(rows: Int, folds: Int) {
        let split = [0.5, 0.25, 0.25]
        let task = SplitLayout.task.rowRanges(rows: rows, split: split)
        let ranges = (1...folds).map { SplitLayout.fold(index: $0, count: folds).rowRanges(rows: rows, split: split) }
        let windows = ranges.map { $0[1] }
        #expect(Set(windows.map(\.count)).count == 1 && windows[0].count > 0)
        #expect(windows.last!.upperBound == task[2].lowerBound)
        for (a, b) in zip(windows, windows.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        for r in ranges {
            #expect(r[0] == 0..<r[1].lowerBound, "each fold trains on everything before its window")
            #expect(r[2] == task[2])
        }
        // The first fold keeps at least half the task's training rows, and windows are as long
        // as the validation split when that fits.
        #expect(ranges[0][0].count >= task[0].count / 2)
        #expect(windows[0].count == min(task[1].count, (task[0].count + task[1].count - task[0].count / 2) / folds))
        // One fold is the task's split; a refit trains on all pre-test rows and validates on none.
        #expect(SplitLayout.fold(index: 1, count: 1).rowRanges(rows: rows, split: split) == task)
        let refit = SplitLayout.refit.rowRanges(rows: rows, split: split)
        #expect(refit[0] == 0..<task[1].upperBound && refit[1].isEmpty && refit[2] == task[2])
    }

    /// A fold standardizes on its own training rows, and no window crosses a boundary.
    @Test func aFoldIsPreparedLikeATaskOnItsOwnRows() throws {
        var spec = TaskSpec(dataset: "x.csv", target: "y")
        spec.features = .columns(["y", "c"])
        (spec.sequenceLength, spec.horizon) = (24, 6)
        let series = hourlySeries(rows: 2000) { Double($0) }
        let fold = try PreparedTask(spec: spec, series: series, featureNames: ["y", "c"], layout: .fold(index: 2, count: 3))
        let train = fold.rowRanges[0]
        #expect(abs(fold.normalization.mean[0] - Double(train.count - 1) / 2) < 1e-9, "the mean of 0..<n is (n − 1) / 2")
        for split in PreparedTask.Split.allCases {
            for start in fold.windowStarts(split) {
                #expect(fold.rowRanges[split.rawValue].contains(start) && fold.rowRanges[split.rawValue].contains(fold.targetRow(start)))
            }
        }
        let refit = try PreparedTask(spec: spec, series: series, featureNames: ["y", "c"], layout: .refit)
        #expect(!refit.hasValidation && refit.windowStarts(.validation).isEmpty && fold.hasValidation)
        #expect(refit.windowStarts(.train).upperBound > fold.windowStarts(.train).upperBound)
    }

    /// Too many folds for the data is refused with the fold and the fix named.
    @Test func foldsThatCannotHoldAWindowAreRefused() throws {
        var spec = TaskSpec(dataset: "x.csv", target: "y")
        (spec.sequenceLength, spec.horizon) = (48, 24)
        let series = hourlySeries(rows: 600) { Double($0 % 24) }
        #expect(throws: ForecastError.self) {
            try PreparedTask(spec: spec, series: series, featureNames: ["y"], layout: .fold(index: 1, count: 8))
        }
        do {
            _ = try PreparedTask(spec: spec, series: series, featureNames: ["y"], layout: .fold(index: 1, count: 8))
        } catch let error as ForecastError {
            #expect(error.description.contains("the validation split of fold 1 of 8 has") && error.description.contains("use fewer folds"))
        }
    }

    /// A refit trains every epoch with no validation: the last epoch's weights, NaN for val.
    @Test func aRefitTrainsAllItsEpochsWithoutValidation() throws {
        var spec = TaskSpec(dataset: "x.csv", target: "y")
        spec.features = .columns(["y", "c"])
        (spec.sequenceLength, spec.horizon) = (12, 3)
        let series = hourlySeries(rows: 600) { sin(Double($0) * 2 * .pi / 24) }
        let task = try PreparedTask(spec: spec, series: series, featureNames: ["y", "c"], layout: .refit)
        var settings = TrainingSettings()
        settings.epochs = 3
        let model = try Architecture(cell: .gru, units: [4], depth: 1).modelSpec(features: 2)
        let result = try Trainer(task: task, spec: model, settings: settings).run()
        #expect(result.epochsRun == 3 && result.bestEpoch == 3 && result.valMAE.isNaN && result.testMAE.isFinite)
    }
}
