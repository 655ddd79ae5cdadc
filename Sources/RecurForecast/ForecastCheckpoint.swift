import Foundation
import RecurEngine

/// The forecasting metadata a checkpoint carries so it can be used on its own: the task spec, the
/// training split's normalization statistics, and the training data's row spacing and timestamp
/// column (absent from checkpoints of earlier versions).
public struct ForecastCheckpoint {
    public var task: TaskSpec
    public var normalization: Normalization
    /// Seconds between rows of the training data.
    public var stepSeconds: Int64?
    /// The training data's timestamp column header.
    public var timestampColumn: String?

    public init(task: TaskSpec, normalization: Normalization, stepSeconds: Int64? = nil, timestampColumn: String? = nil) {
        self.task = task
        self.normalization = normalization
        self.stepSeconds = stepSeconds
        self.timestampColumn = timestampColumn
    }

    /// The metadata of a model trained on `prepared`.
    public init(prepared: PreparedTask, task: TaskSpec) {
        self.init(task: task, normalization: prepared.normalization, stepSeconds: prepared.step, timestampColumn: prepared.timestampColumn)
    }

    /// Metadata entries to store beside the weights.
    public func metadata() -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = [
            "task": String(decoding: (try? encoder.encode(task)) ?? Data(), as: UTF8.self),
            "normalization": String(decoding: (try? encoder.encode(normalization)) ?? Data(), as: UTF8.self),
        ]
        if let stepSeconds { out["step_seconds"] = String(stepSeconds) }
        if let timestampColumn { out["timestamp_column"] = timestampColumn }
        return out
    }

    /// Reads the entries back; throws when the checkpoint was not written for forecasting.
    public init(metadata: [String: String]) throws {
        guard let task = metadata["task"], let normalization = metadata["normalization"] else {
            throw ForecastError("checkpoint: no task or normalization metadata; it was not written by `recur train` or a sweep")
        }
        do { self.task = try JSONDecoder().decode(TaskSpec.self, from: Data(task.utf8)) } catch {
            throw ForecastError("checkpoint: its task metadata is unreadable (\(error)); the checkpoint is corrupt")
        }
        do { self.normalization = try JSONDecoder().decode(Normalization.self, from: Data(normalization.utf8)) } catch {
            throw ForecastError("checkpoint: its normalization metadata is unreadable (\(error)); the checkpoint is corrupt")
        }
        if let problem = self.task.problems(prefix: "checkpoint task").first { throw ForecastError(problem) }
        try self.normalization.validate()
        if let text = metadata["step_seconds"] {
            // At most a century: no series steps further, and horizon × step stays far inside Int64.
            guard let step = Int64(text), (1...3_155_760_000).contains(step) else {
                throw ForecastError(
                    "checkpoint: step_seconds '\(text)' is not a whole number of seconds from 1 to a century; the checkpoint is corrupt"
                )
            }
            stepSeconds = step
        }
        timestampColumn = metadata["timestamp_column"]
    }
}

/// Forecasts for every complete input window of a series, in original units.
public struct Forecast: Sendable {
    public struct Row: Sendable, Equatable {
        public var origin: Int64
        public var target: Int64
        public var forecast: Double
        /// The observed target, when the data has that row and it was not filled by interpolation.
        public var actual: Double?
    }
    public var rows: [Row]

    /// Runs `model` over every window of `series` (standardized with the checkpoint's statistics),
    /// 256 windows at a time. A series whose row spacing differs from the training data's is refused.
    public static func make(model: SequentialModel, checkpoint: ForecastCheckpoint, series: TimeSeries) throws -> Forecast {
        let spec = checkpoint.task
        let norm = checkpoint.normalization
        let columns = try norm.features.map { name -> Int in
            guard let c = series.column(name) else { throw ForecastError("data: no column '\(name)', which the model was trained on") }
            return c
        }
        guard columns.count == model.spec.inputFeatures else {
            throw ForecastError(
                "checkpoint: its normalization names \(columns.count) features but the model takes \(model.spec.inputFeatures); the checkpoint is corrupt"
            )
        }
        if let trained = checkpoint.stepSeconds, series.rowCount >= 2, series.step != trained {
            throw ForecastError(
                "data: rows are \(series.step) s apart, but the model was trained on rows \(trained) s apart; resample the file to that spacing"
            )
        }
        let step = checkpoint.stepSeconds ?? series.step
        let f = columns.count
        let t = spec.sequenceLength
        let r = spec.samplingRate
        let inputSpan = (t - 1) * r + 1
        guard series.rowCount >= inputSpan else {
            throw ForecastError("data: \(series.rowCount) rows, but one input window needs \(inputSpan) (sequence_length \(t), sampling_rate \(r))")
        }
        let width = series.columns.count
        let count = series.rowCount - inputSpan + 1
        let targetColumn = series.column(norm.target)
        let lag = spec.referenceLag
        if lag > 0 && targetColumn == nil {
            throw ForecastError(
                "data: no column '\(norm.target)'; the model predicts its change (target_mode \(spec.mode.rawValue)), so its past values are needed"
            )
        }
        let chunk = 256
        var x = [Float](repeating: 0, count: chunk * t * f)
        var rows: [Row] = []
        rows.reserveCapacity(count)
        for first in stride(from: 0, to: count, by: chunk) {
            let n = min(chunk, count - first)
            for w in 0..<n {
                for k in 0..<t {
                    let row = first + w + k * r
                    for (j, c) in columns.enumerated() {
                        x[(w * t + k) * f + j] = Float((series.values[row * width + c] - norm.mean[j]) / norm.std[j])
                    }
                }
            }
            let y = try model.predict(Array(x[0..<(n * t * f)]), count: n, steps: t)
            for w in 0..<n {
                let s = first + w
                let last = s + (t - 1) * r
                let targetRow = last + spec.horizon
                let observed = targetRow < series.rowCount && !series.isFilled(targetRow)
                let actual = targetColumn.flatMap { c in observed ? series.values[targetRow * width + c] : nil }
                rows.append(
                    Row(
                        origin: series.timestamps[last],
                        target: series.timestamps[last] + Int64(spec.horizon) * step,
                        // The reference row is at or before the last input row, so always in the data.
                        forecast: Double(y[w]) * norm.targetStd + norm.targetMean
                            + (lag == 0 ? 0 : series.values[(targetRow - lag) * width + targetColumn!]),
                        actual: actual
                    )
                )
            }
        }
        return Forecast(rows: rows)
    }

    /// CSV: `origin,target_time,forecast_<name>,actual_<name>`.
    public func csv(targetName: String) -> String {
        var out = "origin,target_time,forecast_\(targetName),actual_\(targetName)\n"
        for row in rows {
            out += "\(Timestamp.format(row.origin)),\(Timestamp.format(row.target)),\(String(format: "%.4f", row.forecast)),"
            out += row.actual.map { String(format: "%.4f", $0) } ?? ""
            out += "\n"
        }
        return out
    }
}
