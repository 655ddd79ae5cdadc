import Foundation
import Testing

@testable import RecurForecast

/// The lecture task on the shipped dataset reproduces the reference baselines
/// (../shared/anchors/RESULTS.md: persistence 1.932 / 3.848 °C, train mean 11.037 / 6.490 °C).
@Suite struct GreensboroTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func lectureTask() throws -> PreparedTask {
        var spec = TaskSpec(dataset: "datasets/greensboro-tmy3.csv", target: "temp_c")
        spec.sequenceLength = 120
        spec.horizon = 24
        return try PreparedTask.load(spec, directory: root)
    }

    @Test func lectureTaskWindowsAndBaselinesMatchTheAnchors() throws {
        let task = try Self.lectureTask()
        #expect(task.rowCount == 8760 && task.featureCount == 13 && task.interpolatedRows == 0)
        #expect(task.rowRanges == [0..<4380, 4380..<6570, 6570..<8760])
        #expect(task.windowStarts(.train).count == 4237)
        #expect(task.windowStarts(.validation).count == 2047 && task.windowStarts(.test).count == 2047)
        #expect(abs(task.normalization.targetMean - 12.459) < 0.001 && abs(task.normalization.targetStd - 10.073) < 0.001)
        let b = task.baselines()
        #expect(abs(b.persistence.valMAE - 1.932) < 0.01 && abs(b.persistence.testMAE - 3.848) < 0.01)
        #expect(abs(b.trainMean.valMAE - 11.037) < 0.01 && abs(b.trainMean.testMAE - 6.490) < 0.01)
    }

    @Test func datasetHashIsChecked() throws {
        var spec = TaskSpec(dataset: "datasets/greensboro-tmy3.csv", target: "temp_c")
        spec.datasetSHA256 = String(repeating: "0", count: 64)
        #expect(throws: ForecastError.self) { try PreparedTask.load(spec, directory: Self.root) }
        spec.datasetSHA256 = sha256Hex(try Data(contentsOf: Self.root.appendingPathComponent(spec.dataset)))
        _ = try PreparedTask.load(spec, directory: Self.root)
    }
}
