import Foundation
import RecurEngine

/// The forecasting metadata a checkpoint carries so it can be used on its own: the task spec and
/// the training split's normalization statistics.
public struct ForecastCheckpoint {
    public var task: TaskSpec
    public var normalization: Normalization

    public init(task: TaskSpec, normalization: Normalization) {
        self.task = task
        self.normalization = normalization
    }

    /// Metadata entries to store beside the weights.
    public func metadata() -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return [
            "task": String(decoding: (try? encoder.encode(task)) ?? Data(), as: UTF8.self),
            "normalization": String(decoding: (try? encoder.encode(normalization)) ?? Data(), as: UTF8.self),
        ]
    }

    /// Reads the entries back; throws when the checkpoint was not written for forecasting.
    public init(metadata: [String: String]) throws {
        guard let task = metadata["task"], let normalization = metadata["normalization"] else {
            throw ForecastError("checkpoint: no task or normalization metadata; it was not written by `recur train` or a sweep")
        }
        do {
            self.task = try JSONDecoder().decode(TaskSpec.self, from: Data(task.utf8))
            self.normalization = try JSONDecoder().decode(Normalization.self, from: Data(normalization.utf8))
        } catch {
            throw ForecastError("checkpoint: its task metadata is unreadable (\(error))")
        }
        if let problem = self.task.problems(prefix: "checkpoint task").first { throw ForecastError(problem) }
        try self.normalization.validate()
    }
}

/// Forecasts for every complete input window of a series, in original units.
public struct Forecast: Sendable {
    public struct Row: Sendable, Equatable {
        public var origin: Int64
        public var target: Int64
        public var forecast: Double
        public var actual: Double?
    }
    public var rows: [Row]

    /// Runs `model` over every window of `series` (standardized with the checkpoint's statistics).
    public static func make(model: SequentialModel, checkpoint: ForecastCheckpoint, series: TimeSeries) throws -> Forecast {
        let spec = checkpoint.task, norm = checkpoint.normalization
        let columns = try norm.features.map { name -> Int in
            guard let c = series.column(name) else { throw ForecastError("data: no column '\(name)', which the model was trained on") }
            return c
        }
        guard columns.count == model.spec.inputFeatures else {
            throw ForecastError("checkpoint: its normalization names \(columns.count) features but the model takes \(model.spec.inputFeatures); the checkpoint is corrupt")
        }
        let f = columns.count, t = spec.sequenceLength, r = spec.samplingRate
        let inputSpan = (t - 1) * r + 1
        guard series.rowCount >= inputSpan else {
            throw ForecastError("data: \(series.rowCount) rows, but one input window needs \(inputSpan) (sequence_length \(t), sampling_rate \(r))")
        }
        let width = series.columns.count
        let count = series.rowCount - inputSpan + 1
        var x = [Float](repeating: 0, count: count * t * f)
        for s in 0..<count {
            for k in 0..<t {
                let row = s + k * r
                for (j, c) in columns.enumerated() { x[(s * t + k) * f + j] = Float((series.values[row * width + c] - norm.mean[j]) / norm.std[j]) }
            }
        }
        let y = try model.predict(x, count: count, steps: t)
        let targetColumn = series.column(norm.target)
        var rows: [Row] = []
        rows.reserveCapacity(count)
        for s in 0..<count {
            let last = s + (t - 1) * r, targetRow = last + spec.horizon
            let actual = targetColumn.flatMap { c in targetRow < series.rowCount ? series.values[targetRow * width + c] : nil }
            rows.append(Row(
                origin: series.timestamps[last], target: series.timestamps[last] + Int64(spec.horizon) * series.step,
                forecast: Double(y[s]) * norm.targetStd + norm.targetMean, actual: actual))
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
