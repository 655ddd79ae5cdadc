import Crypto
import Foundation

/// Per-feature standardization statistics, from the training rows only.
public struct Normalization: Codable, Sendable, Equatable {
    public var features: [String]
    public var mean: [Double]
    public var std: [Double]
    public var target: String
    public var targetMean: Double
    public var targetStd: Double

    /// Throws unless there is one finite mean and one finite, positive std per feature.
    public func validate() throws {
        guard !features.isEmpty, mean.count == features.count, std.count == features.count else {
            throw ForecastError(
                "checkpoint normalization: \(features.count) features but \(mean.count) means and \(std.count) stds; the checkpoint is corrupt"
            )
        }
        guard (mean + [targetMean]).allSatisfy(\.isFinite), (std + [targetStd]).allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw ForecastError("checkpoint normalization: means must be finite and stds finite and > 0; the checkpoint is corrupt")
        }
    }
}

/// MAE of the naive predictors, in the target's original units.
public struct Baselines: Codable, Sendable, Equatable {
    public struct Scores: Codable, Sendable, Equatable {
        public var valMAE: Double
        public var testMAE: Double
        enum CodingKeys: String, CodingKey {
            case valMAE = "val_mae"
            case testMAE = "test_mae"
        }
    }
    /// The last observed target value.
    public var persistence: Scores
    /// The mean target of the training rows.
    public var trainMean: Scores
    enum CodingKeys: String, CodingKey {
        case persistence
        case trainMean = "train_mean"
    }
}

/// A task ready to train on: the standardized series, and the window starts of each split.
///
/// Window `i` reads rows `i + k·r` (k < L) and predicts the target at row `i + (L−1)·r + horizon`,
/// as Keras `timeseries_dataset_from_array` with `targets = series[delay:]`. Every window —
/// inputs and target — lies inside one split. Windows are cut on the fly, never materialized.
public struct PreparedTask: Sendable {
    public enum Split: Int, CaseIterable, Sendable { case train, validation, test }

    public let spec: TaskSpec
    public let timestamps: [Int64]
    public let step: Int64
    /// Standardized features, `[rows, F]`.
    public let features: [Float]
    /// Standardized target, `[rows]`.
    public let target: [Float]
    /// Raw target values, `[rows]`.
    public let rawTarget: [Double]
    public let normalization: Normalization
    /// Row ranges of train, validation and test.
    public let rowRanges: [Range<Int>]
    /// Which rows train, validate and test (the task's split, a fold, or a refit).
    public let layout: SplitLayout
    /// Rows added by gap interpolation.
    public let interpolatedRows: Int
    /// Per row, true when interpolation made it (empty when nothing was filled).
    public let filledRows: [Bool]
    /// The header of the data's timestamp column.
    public let timestampColumn: String

    public var featureCount: Int { normalization.features.count }
    public var rowCount: Int { timestamps.count }
    /// False for a refit, which trains on every pre-test row and has nothing to validate on.
    public var hasValidation: Bool { !windowStarts(.validation).isEmpty }

    /// Loads the CSV the spec names and prepares it. Relative paths resolve against `directory`.
    public static func load(_ spec: TaskSpec, directory: URL? = nil, layout: SplitLayout = .task) throws -> PreparedTask {
        try spec.validate()
        let base = URL(fileURLWithPath: (directory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).path, isDirectory: true)
        let url = URL(fileURLWithPath: spec.dataset, relativeTo: base)
        let data: Data
        if let why = notARegularFile(url) { throw ForecastError("task.dataset: cannot read \(spec.dataset) (\(url.path)): \(why)") }
        do { data = try Data(contentsOf: url) } catch {
            throw ForecastError("task.dataset: cannot read \(spec.dataset) (\(url.path)): \(error.localizedDescription)")
        }
        if let expected = spec.datasetSHA256 {
            let actual = sha256Hex(data)
            guard actual == expected.lowercased() else {
                throw ForecastError(
                    "task.dataset: \(spec.dataset) has SHA-256 \(actual), but the task expects \(expected); use the same file as the coordinator"
                )
            }
        }
        let header = try TimeSeries.parse(
            csv: Data(data.prefix(while: { $0 != 10 })) + Data("\n".utf8),
            source: spec.dataset,
            timestampColumn: spec.timestampColumn,
            columns: nil,
            gaps: .error,
            headerOnly: true
        )
        var names: [String]
        switch spec.features {
        case .all: names = header.columns
        case .columns(let list): names = list
        }
        let wanted = names.contains(spec.target) ? names : names + [spec.target]
        for name in wanted where !header.columns.contains(name) {
            let field = name == spec.target ? "task.target" : "task.features"
            throw ForecastError("\(field): no column '\(name)' in \(spec.dataset); columns: \(header.columns.joined(separator: ", "))")
        }
        let series = try TimeSeries.parse(csv: data, source: spec.dataset, timestampColumn: spec.timestampColumn, columns: wanted, gaps: spec.gaps)
        return try PreparedTask(spec: spec, series: series, featureNames: names, layout: layout)
    }

    public init(spec: TaskSpec, series: TimeSeries, featureNames: [String], layout: SplitLayout = .task) throws {
        try spec.validate()
        self.spec = spec
        self.layout = layout
        if case .fold(let index, let count) = layout, !(1...100).contains(count) || !(1...count).contains(index) {
            throw ForecastError("fold \(index) of \(count): no such rolling-origin fold (folds are 1…count, count at most 100)")
        }
        let n = series.rowCount
        rowRanges = layout.rowRanges(rows: n, split: spec.split)
        let trainEnd = rowRanges[0].upperBound
        for (split, range) in zip(["train", "validation", "test"], rowRanges) where range.count < spec.windowSpan {
            if layout == .refit && split == "validation" { continue }
            let which = layout == .task ? "the \(split) split" : "the \(split) split of \(layout)"
            let fix = layout == .task ? "" : " or use fewer folds"
            throw ForecastError(
                "task: \(which) has \(range.count) rows but one window spans \(spec.windowSpan) (sequence_length \(spec.sequenceLength), sampling_rate \(spec.samplingRate), horizon \(spec.horizon)); shorten the window\(fix) or use more data"
            )
        }
        let width = series.columns.count
        let columnIndex = featureNames.map { series.column($0)! }
        let targetIndex = series.column(spec.target)!
        /// Mean and population std (ddof 0; 1 when constant) of a column over the training rows.
        func statistics(_ c: Int) -> (mean: Double, std: Double) {
            var sum = 0.0
            for r in 0..<trainEnd { sum += series.values[r * width + c] }
            let m = sum / Double(trainEnd)
            var ss = 0.0
            for r in 0..<trainEnd {
                let d = series.values[r * width + c] - m
                ss += d * d
            }
            let s = (ss / Double(trainEnd)).squareRoot()
            return (m, s > 0 ? s : 1)
        }
        let stats = columnIndex.map(statistics)
        let mean = stats.map(\.mean)
        let std = stats.map(\.std)
        // The model's target: the value itself, or its change from the reference `lag` rows back.
        let lag = spec.referenceLag
        let raw = (0..<n).map { series.values[$0 * width + targetIndex] }
        let modelTarget = lag == 0 ? raw : (0..<n).map { $0 >= lag ? raw[$0] - raw[$0 - lag] : .nan }
        var (tMean, tStd) = statistics(targetIndex)
        if lag > 0 {
            let rows = lag..<trainEnd
            let m = rows.reduce(0.0) { $0 + modelTarget[$1] } / Double(rows.count)
            let s = (rows.reduce(0.0) { $0 + (modelTarget[$1] - m) * (modelTarget[$1] - m) } / Double(rows.count)).squareRoot()
            // A change that is constant up to rounding (a pure trend) has no spread to scale by.
            (tMean, tStd) = (m, s > 1e-9 * max(1, abs(m)) ? s : 1)
        }
        normalization = Normalization(features: featureNames, mean: mean, std: std, target: spec.target, targetMean: tMean, targetStd: tStd)
        var f = [Float](repeating: 0, count: n * featureNames.count)
        for r in 0..<n {
            for (k, c) in columnIndex.enumerated() { f[r * featureNames.count + k] = Float((series.values[r * width + c] - mean[k]) / std[k]) }
        }
        features = f
        rawTarget = raw
        target = modelTarget.map { Float(($0 - tMean) / tStd) }
        timestamps = series.timestamps
        step = series.step
        interpolatedRows = series.interpolatedRows
        filledRows = series.filledRows
        timestampColumn = series.timestampName
        for split in [Split.validation, .test] where scoredStarts(split).isEmpty && !(split == .validation && layout == .refit) {
            throw ForecastError(
                "task: every \(split == .test ? "test" : "validation") window targets a row filled by interpolation, so none can be scored; fill the gap in \(spec.dataset) or move the split"
            )
        }
    }

    /// First input rows of every window in `split`.
    public func windowStarts(_ split: Split) -> Range<Int> {
        let rows = rowRanges[split.rawValue]
        guard rows.count >= spec.windowSpan else { return rows.lowerBound..<rows.lowerBound }
        return rows.lowerBound..<(rows.upperBound - spec.windowSpan + 1)
    }

    /// The windows of `split` that are scored: those whose target row was observed, not filled by
    /// interpolation. Training uses every window; validation, test and the baselines only these.
    public func scoredStarts(_ split: Split) -> [Int] {
        let starts = windowStarts(split)
        guard !filledRows.isEmpty else { return Array(starts) }
        return starts.filter { !filledRows[targetRow($0)] }
    }

    /// Windows of `split` left out of scoring because their target row was filled.
    public func unscoredCount(_ split: Split) -> Int { windowStarts(split).count - scoredStarts(split).count }

    /// What the model's output is added to, in original units, for the window whose target is
    /// `targetRow`: 0 for `level`, else the observed value `referenceLag` rows before it.
    public func reference(targetRow: Int) -> Double {
        let lag = spec.referenceLag
        return lag == 0 ? 0 : rawTarget[targetRow - lag]
    }

    /// The last input row and the target row of the window starting at `start`.
    public func lastInputRow(_ start: Int) -> Int { start + (spec.sequenceLength - 1) * spec.samplingRate }
    public func targetRow(_ start: Int) -> Int { lastInputRow(start) + spec.horizon }

    /// Writes windows `[B, T, F]` and standardized targets `[B]` for the given starts.
    public func gather<C: Collection<Int>>(_ starts: C, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let f = featureCount
        let t = spec.sequenceLength
        let r = spec.samplingRate
        features.withUnsafeBufferPointer { src in
            for (b, start) in starts.enumerated() {
                let out = x + b * t * f
                for k in 0..<t { (out + k * f).update(from: src.baseAddress! + (start + k * r) * f, count: f) }
                y[b] = target[targetRow(start)]
            }
        }
    }

    /// Persistence and train-mean MAE on the scored windows of validation and test, in original units.
    public func baselines() -> Baselines {
        func scores(_ predict: (Int) -> Double) -> Baselines.Scores {
            func mae(_ split: Split) -> Double {
                let starts = scoredStarts(split)
                var sum = 0.0
                for s in starts { sum += abs(predict(s) - rawTarget[targetRow(s)]) }
                return sum / Double(starts.count)
            }
            return Baselines.Scores(valMAE: mae(.validation), testMAE: mae(.test))
        }
        let trainMean = rawTarget[rowRanges[0]].reduce(0, +) / Double(rowRanges[0].count)
        return Baselines(persistence: scores { rawTarget[lastInputRow($0)] }, trainMean: scores { _ in trainMean })
    }
}

/// Lower-case hex SHA-256 of `data`.
public func sha256Hex(_ data: Data) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    hex.reserveCapacity(64)
    for byte in SHA256.hash(data: data) {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 15)])
    }
    return String(decoding: hex, as: UTF8.self)
}

/// Lower-case hex SHA-256 of the file at `url`, read in chunks (datasets can be large).
public func sha256Hex(fileAt url: URL) throws -> String {
    if let why = notARegularFile(url) { throw ForecastError("\(url.path): cannot read it: \(why)") }
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    for byte in hasher.finalize() {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 15)])
    }
    return String(decoding: hex, as: UTF8.self)
}
