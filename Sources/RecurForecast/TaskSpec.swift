import Foundation

/// A forecasting task: which series, which target, how windows are cut and split.
///
/// The same object appears under `task:` in sweep files:
/// ```yaml
/// dataset: datasets/greensboro-tmy3.csv
/// target: temp_c
/// features: all            # or [temp_c, rh_pct, …]
/// sequence_length: 120     # input rows per window
/// sampling_rate: 1         # take every n-th row inside a window
/// horizon: 24              # target row = last input row + horizon
/// split: [0.5, 0.25, 0.25] # chronological train / validation / test fractions
/// gaps: interpolate        # or error
/// target_mode: delta       # level (default), delta or seasonal_delta (with season: 24)
/// ```
public struct TaskSpec: Codable, Sendable, Hashable {
    /// What the model predicts. `level`: the target itself. `delta`: its change from the last
    /// observed value (persistence), `seasonal_delta`: from the value one season earlier — so a
    /// model starts from a baseline instead of having to learn it. Forecasts and metrics are always
    /// in the target's own units.
    public enum TargetMode: String, Codable, Sendable, Hashable, CaseIterable {
        case level, delta
        case seasonalDelta = "seasonal_delta"
    }

    /// Which input columns to use.
    public enum Features: Codable, Sendable, Hashable {
        case all
        case columns([String])

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                guard s == "all" else { throw ForecastError("task.features: expected 'all' or a list of column names, got '\(s)'") }
                self = .all
            } else if let list = try? c.decode([String].self) {
                self = .columns(list)
            } else {
                throw ForecastError("task.features: expected 'all' or a list of column names")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .all: try c.encode("all")
            case .columns(let list): try c.encode(list)
            }
        }
    }

    /// CSV path; relative paths resolve against the working directory.
    public var dataset: String
    /// The column to forecast.
    public var target: String
    /// Default: all.
    public var features: Features = .all
    /// Input rows per window. Default: 120.
    public var sequenceLength: Int = 120
    /// Take every n-th row inside a window. Default: 1.
    public var samplingRate: Int = 1
    /// Rows from the last input row to the target row. Default: 24.
    public var horizon: Int = 24
    /// Chronological train / validation / test fractions. Default: [0.5, 0.25, 0.25].
    public var split: [Double] = [0.5, 0.25, 0.25]
    /// Default: interpolate.
    public var gaps: GapPolicy = .interpolate
    /// The timestamp column. Default: the first column.
    public var timestampColumn: String?
    /// SHA-256 of the dataset file; when set, a different file is refused.
    public var datasetSHA256: String?
    /// Default (nil): level.
    public var targetMode: TargetMode?
    /// Rows per season for `seasonal_delta`. Default: 24.
    public var season: Int?

    public var mode: TargetMode { targetMode ?? .level }

    /// Rows from the reference value to the target row: the horizon for `delta` (the last input
    /// row), the season for `seasonal_delta`, 0 for `level` (no reference).
    public var referenceLag: Int {
        switch mode {
        case .level: return 0
        case .delta: return horizon
        case .seasonalDelta: return season ?? 24
        }
    }

    public init(dataset: String, target: String) {
        self.dataset = dataset
        self.target = target
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, target, features
        case sequenceLength = "sequence_length"
        case samplingRate = "sampling_rate"
        case horizon, split, gaps
        case timestampColumn = "timestamp_column"
        case datasetSHA256 = "dataset_sha256"
        case targetMode = "target_mode"
        case season
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        if let any = try? decoder.container(keyedBy: AnyCodingKey.self) {
            for key in any.allKeys where !known.contains(key.stringValue) {
                throw ForecastError("task.\(key.stringValue): unknown key; allowed: \(known.sorted().joined(separator: ", "))")
            }
        }
        func field<T: Decodable>(_ key: CodingKeys, _ type: T.Type, expected: String) throws -> T? {
            guard c.contains(key) else { return nil }
            do { return try c.decode(T.self, forKey: key) } catch let error as ForecastError { throw error } catch {
                throw ForecastError("task.\(key.stringValue): expected \(expected)")
            }
        }
        guard let dataset = try field(.dataset, String.self, expected: "a CSV path") else {
            throw ForecastError("task.dataset: missing; expected a CSV path")
        }
        guard let target = try field(.target, String.self, expected: "a column name") else {
            throw ForecastError("task.target: missing; expected a column name")
        }
        self.init(dataset: dataset, target: target)
        features = try field(.features, Features.self, expected: "'all' or a list of column names") ?? .all
        sequenceLength = try field(.sequenceLength, Int.self, expected: "a positive integer") ?? 120
        samplingRate = try field(.samplingRate, Int.self, expected: "a positive integer") ?? 1
        horizon = try field(.horizon, Int.self, expected: "a positive integer") ?? 24
        split = try field(.split, [Double].self, expected: "three fractions like [0.5, 0.25, 0.25]") ?? [0.5, 0.25, 0.25]
        gaps = try field(.gaps, GapPolicy.self, expected: "error or interpolate") ?? .interpolate
        timestampColumn = try field(.timestampColumn, String.self, expected: "a column name")
        datasetSHA256 = try field(.datasetSHA256, String.self, expected: "a hex SHA-256")
        targetMode = try field(.targetMode, TargetMode.self, expected: "level, delta or seasonal_delta")
        season = try field(.season, Int.self, expected: "a positive integer (rows per season)")
    }

    /// Every problem with the values, each prefixed with its path (`task.horizon: …`).
    public func problems(prefix: String = "task") -> [String] {
        var out: [String] = []
        if dataset.isEmpty { out.append("\(prefix).dataset: must not be empty") }
        if target.isEmpty { out.append("\(prefix).target: must not be empty") }
        for (key, value) in [("sequence_length", sequenceLength), ("sampling_rate", samplingRate), ("horizon", horizon)] {
            if value < 1 { out.append("\(prefix).\(key): \(value) must be ≥ 1") }
            if value > Self.maximumSpan { out.append("\(prefix).\(key): \(value) must be ≤ \(Self.maximumSpan)") }
        }
        if split.count != 3 {
            out.append("\(prefix).split: expected three fractions [train, validation, test], got \(split.count)")
        } else {
            for (i, f) in split.enumerated() where !(f > 0 && f < 1) { out.append("\(prefix).split[\(i)]: \(f) must be in (0, 1)") }
            if abs(split.reduce(0, +) - 1) > 1e-6 { out.append("\(prefix).split: fractions sum to \(split.reduce(0, +)); they must sum to 1") }
        }
        if case .columns(let list) = features, list.isEmpty { out.append("\(prefix).features: the list is empty; use 'all' or name columns") }
        if let season, season < 1 { out.append("\(prefix).season: \(season) must be ≥ 1") }
        if mode == .seasonalDelta {
            let lag = referenceLag
            let reach = (sequenceLength - 1) * samplingRate + horizon
            if lag < horizon {
                out.append("\(prefix).season: \(lag) is shorter than the horizon \(horizon), so the value one season back is not observed yet")
            } else if lag > reach {
                out.append(
                    "\(prefix).season: \(lag) reaches before the window (\(reach) rows from its first row to the target); lengthen sequence_length"
                )
            }
        }
        return out
    }

    /// Throws the first problem, if any.
    public func validate() throws {
        if let first = problems().first { throw ForecastError(first) }
    }

    /// The cap on `sequence_length`, `sampling_rate` and `horizon` (and so on their window span,
    /// at most about 10¹² rows), which keeps every row count in range.
    public static let maximumSpan = 1_000_000

    /// Rows one window touches, from its first input row to its target row.
    public var windowSpan: Int { (sequenceLength - 1) * samplingRate + horizon + 1 }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}
