import Foundation
import Testing

@testable import RecurSweep

/// The stored definition is typed: it round-trips through its JSON, and the JSON databases
/// written before it existed (the spec's `jsonString()` plus the dataset's hash and features)
/// decode as they are.
@Suite struct SweepDefinitionTests {
    static func shippedSpecs() throws -> [SweepSpec] {
        let dir = SweepSpecTests.root.appendingPathComponent("sweeps")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted().map {
            try SweepSpec.load(path: dir.appendingPathComponent($0).path).0
        }
    }

    @Test func everyShippedSweepRoundTrips() throws {
        let specs = try Self.shippedSpecs()
        #expect(specs.count >= 3)
        for spec in specs {
            let definition = SweepDefinition(spec: spec, datasetSHA256: String(repeating: "a", count: 64), features: 13)
            let back = try SweepDefinition.decode(json: try definition.jsonString())
            #expect(back.spec.jsonString() == spec.jsonString(), "\(spec.name)")
            #expect(back.spec.space.map(\.name) == spec.space.map(\.name), "parameter order of \(spec.name)")
            #expect(back.datasetSHA256 == definition.datasetSHA256 && back.features == 13)
            #expect(back.spec.task == spec.task && back.spec.training == spec.training && back.spec.pruning == spec.pruning)
        }
    }

    @Test func theFormatOfOlderDatabasesDecodes() throws {
        for spec in try Self.shippedSpecs() {
            // What the coordinator stored before the definition was typed.
            var json = try #require(try JSONSerialization.jsonObject(with: Data(spec.jsonString().utf8)) as? [String: Any])
            json["dataset_sha256"] = "ab"
            json["features"] = 2
            let legacy = String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self)
            let decoded = try SweepDefinition.decode(json: legacy)
            #expect(decoded.spec.jsonString() == spec.jsonString() && decoded.datasetSHA256 == "ab" && decoded.features == 2, "\(spec.name)")
        }
    }
}
