import Foundation
import Testing

@testable import RecurForecast

/// CSV loading, gap policy and the task file: every bad input is a one-line error naming the
/// row and column (or field) at fault.
@Suite struct DatasetTests {
    static func parse(_ text: String, columns: [String]? = nil, gaps: GapPolicy = .interpolate) throws -> TimeSeries {
        try TimeSeries.parse(csv: Data(text.utf8), source: "t.csv", columns: columns, gaps: gaps)
    }

    @Test func readsARegularSeries() throws {
        let s = try Self.parse("timestamp,x,y\n2001-01-01T01:00,1,2\n2001-01-01T02:00,3,4.5\n2001-01-01T03:00,-5,6e1\n")
        #expect(s.columns == ["x", "y"])
        #expect(s.values == [1, 2, 3, 4.5, -5, 60])
        #expect(s.step == 3600 && s.interpolatedRows == 0)
    }

    @Test func interpolatesGapsAndCountsThem() throws {
        let s = try Self.parse("timestamp,x\n2001-01-01T00:00,0\n2001-01-01T01:00,1\n2001-01-01T04:00,4\n2001-01-01T05:00,5\n")
        #expect(s.interpolatedRows == 2)
        #expect(s.values == [0, 1, 2, 3, 4, 5])
        #expect(s.timestamps.count == 6)
    }

    static let badFiles: [(text: String, gaps: GapPolicy, message: String)] = [
        ("", .interpolate, "the file is empty"),
        ("timestamp,x\n", .interpolate, "no data rows"),
        ("timestamp,x\n2001-01-01T00:00,1\n2001-01-01T01:00,abc\n", .interpolate, "line 3, column 'x': 'abc' is not a number"),
        ("timestamp,x\n2001-01-01T00:00,1\n2001-01-01T01:00,\n", .interpolate, "line 3, column 'x': '' is not a number"),
        (
            "timestamp,x\n2001-01-01T01:00,1\n2001-01-01T00:00,2\n", .interpolate,
            "line 3: timestamp 2001-01-01T00:00 is earlier than the previous row"
        ),
        ("timestamp,x\n2001-01-01T01:00,1\n2001-01-01T01:00,2\n", .interpolate, "line 3: timestamp 2001-01-01T01:00 is a duplicate"),
        ("timestamp,x\nyesterday,1\n", .interpolate, "line 2, column 'timestamp': 'yesterday' is not a timestamp"),
        ("timestamp,x\n2001-01-01T00:00,1,2\n", .interpolate, "line 2: 3 cells; the header has 2"),
        (
            "timestamp,x\n2001-01-01T00:00,0\n2001-01-01T01:00,1\n2001-01-01T02:00,1\n2001-01-01T05:00,5\n", .error,
            "line 5: 2 missing row(s) before 2001-01-01T05:00"
        ),
        ("timestamp,x\n2001-01-01T00:00,0\n2001-01-01T01:00,1\n2001-01-01T02:00,1\n2001-01-01T02:30,5\n", .interpolate, "off the 3600-second grid"),
        ("timestamp,x\n1e19,1\n", .interpolate, "line 2, column 'timestamp': '1e19' is not a timestamp"),
        ("timestamp,x\n-9e18,1\n9e18,2\n", .interpolate, "line 2, column 'timestamp': '-9e18' is not a timestamp"),
        ("timestamp,x\n0,1\n1,2\n2,3\n100000000000,4\n", .interpolate, "line 5: 99999999997 missing row(s) before"),
    ]

    @Test(arguments: badFiles.indices)
    func badFilesAreRefusedWithTheRowAndColumn(_ i: Int) {
        let bad = Self.badFiles[i]
        do {
            _ = try Self.parse(bad.text, gaps: bad.gaps)
            Issue.record("accepted: \(bad.text)")
        } catch {
            #expect("\(error)".contains(bad.message), "got: \(error)")
            #expect(!"\(error)".contains("\n"))
        }
    }

    @Test func unknownColumnsAreNamed() {
        #expect(throws: ForecastError("dataset t.csv: unknown column 'temp'; columns: x, y")) {
            try Self.parse("timestamp,x,y\n2001-01-01T00:00,1,2\n", columns: ["temp"])
        }
    }

    @Test func timestampsRoundTrip() {
        #expect(Timestamp.parse("2001-01-01T01:00") == 978_310_800)
        #expect(Timestamp.parse("2001-01-01 01:00:00") == 978_310_800)
        #expect(Timestamp.parse("2001-01-01T03:00+02:00") == 978_310_800)
        #expect(Timestamp.parse("2001-01-01T01:00:00.250Z") == 978_310_800)
        #expect(Timestamp.parse("978310800") == 978_310_800)
        #expect(Timestamp.format(978_310_800) == "2001-01-01T01:00")
        #expect(Timestamp.parse("2001-13-01") == nil && Timestamp.parse("2001-01-01T25:00") == nil)
        // Days past the month's end are no dates (they once rolled over into the next month).
        #expect(Timestamp.parse("2001-02-31") == nil && Timestamp.parse("2001-04-31T00:00") == nil && Timestamp.parse("2001-02-29") == nil)
        #expect(Timestamp.parse("2000-02-29") != nil && Timestamp.parse("2004-02-29") != nil && Timestamp.parse("1900-02-29") == nil)
    }

    /// A column the task reads must be named once; columns it does not read may repeat, and
    /// trailing commas may leave unnamed ones.
    @Test func onlyTheColumnsReadMustBeNamedOnce() throws {
        let csv = "timestamp,y,x,x,,\n2001-01-01T00:00,1,2,3,,\n2001-01-01T01:00,2,3,4,,\n"
        #expect(try Self.parse(csv, columns: ["y"]).columns == ["y"])
        #expect(throws: ForecastError("dataset t.csv: the header names column 'x' twice; rename one of them")) {
            try Self.parse(csv, columns: ["y", "x"])
        }
        #expect(throws: ForecastError.self) { try Self.parse(csv) }
    }

    /// A fold the task cannot have (a corrupt or foreign lease) is an error, not a negative range.
    @Test func impossibleFoldsAreErrors() throws {
        var csv = "timestamp,y\n"
        for i in 0..<400 { csv += "\(978_307_200 + i * 3600),\(i % 7)\n" }
        let series = try Self.parse(csv)
        var spec = TaskSpec(dataset: "f.csv", target: "y")
        (spec.sequenceLength, spec.horizon) = (4, 1)
        for layout in [SplitLayout.fold(index: 5, count: 3), .fold(index: 0, count: 3), .fold(index: 1, count: 0), .fold(index: 1, count: 1_000_000)]
        {
            #expect(throws: ForecastError.self) { _ = try PreparedTask(spec: spec, series: series, featureNames: ["y"], layout: layout) }
        }
        #expect(throws: Never.self) { _ = try PreparedTask(spec: spec, series: series, featureNames: ["y"], layout: .fold(index: 2, count: 3)) }
    }

    static let badTasks: [(yaml: String, message: String)] = [
        ("target: temp_c\n", "task.dataset: missing"),
        ("dataset: x.csv\n", "task.target: missing"),
        ("dataset: x.csv\ntarget: t\nhorizon: 0\n", "task.horizon: 0 must be ≥ 1"),
        ("dataset: x.csv\ntarget: t\nsplit: [0.5, 0.5]\n", "task.split: expected three fractions"),
        ("dataset: x.csv\ntarget: t\nsplit: [0.5, 0.4, 0.4]\n", "task.split: fractions sum to"),
        ("dataset: x.csv\ntarget: t\nsequence_lenght: 12\n", "task.sequence_lenght: unknown key"),
        ("dataset: x.csv\ntarget: t\nfeatures: some\n", "task.features: expected 'all' or a list"),
        ("dataset: x.csv\ntarget: t\ngaps: skip\n", "task.gaps: expected error or interpolate"),
        ("dataset: x.csv\ntarget: [t\n", "not valid YAML"),
        (
            "dataset: x.csv\ntarget: t\nsequence_length: 9223372036854775807\nsampling_rate: 9223372036854775807\n",
            "task.sequence_length: 9223372036854775807 must be ≤ 1000000"
        ),
        ("dataset: x.csv\ntarget: t\nhorizon: 2000000\n", "task.horizon: 2000000 must be ≤ 1000000"),
    ]

    @Test(arguments: badTasks.indices)
    func badTaskFilesNameTheField(_ i: Int) {
        let bad = Self.badTasks[i]
        do {
            let spec = try TaskSpec.decode(yaml: bad.yaml, source: "task.yaml")
            try spec.validate()
            Issue.record("accepted: \(bad.yaml)")
        } catch {
            #expect("\(error)".contains(bad.message), "got: \(error)")
        }
    }
}
