import Foundation
import Testing

@testable import RecurEngine

/// Golden files from Keras 3 (`Tools/keras-fixtures/generate.py`).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/keras")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func array(_ name: String) throws -> NumPyArray {
        try NumPyArray.decode(Data(contentsOf: url(name)))
    }

    static func checkpoint(_ name: String) throws -> (model: SequentialModel, metadata: [String: String]) {
        try Checkpoint.load(from: url(name))
    }
}

/// The largest absolute difference and where it is, for readable failures.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> (value: Float, index: Int) {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var worst: Float = 0
    var at = 0
    for i in 0..<a.count where abs(a[i] - b[i]) > worst || a[i].isNaN != b[i].isNaN {
        worst = a[i].isNaN || b[i].isNaN ? .infinity : abs(a[i] - b[i])
        at = i
    }
    return (worst, at)
}

func standardNormal(_ count: Int, rng: inout SeededGenerator, scale: Float = 1) -> [Float] {
    (0..<count).map { _ in Float(rng.nextNormal()) * scale }
}
