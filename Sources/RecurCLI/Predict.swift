import ArgumentParser
import Foundation
import RecurEngine
import RecurForecast

/// `recur predict`: forecasts from a trained checkpoint, in original units.
struct Predict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forecast with a trained checkpoint for every complete input window of a CSV file.",
        discussion: """
            Writes CSV rows `origin,target_time,forecast_<target>,actual_<target>`: the last input row's
            time, the forecast's time, the forecast in original units, and the observed value when the
            file reaches that far. The last `horizon` rows forecast beyond the end of the data and have
            no actual value.

            Example:
              recur predict --checkpoint best.safetensors --data datasets/greensboro-tmy3.csv --out forecasts.csv
            """
    )

    @Option(help: "Checkpoint written by `recur train`, a sweep or `recur export`.") var checkpoint: String
    @Option(help: "CSV with the columns the model was trained on.") var data: String
    @Option(help: "Where to write the forecasts (default: standard output).") var out: String?
    @OptionGroup var global: GlobalOptions

    func run() throws {
        if let out { try OutputPath.check(out, option: "--out", example: "forecasts.csv", inputs: [data, checkpoint]) }
        TrainingThread.prepare()
        let (model, metadata) = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint))
        let info = try ForecastCheckpoint(metadata: metadata)
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: data)) } catch {
            throw CLIError("cannot read data file \(data): \(error.localizedDescription)")
        }
        // The timestamp column is found by the name it had in training (older checkpoints: the task's, else the first column).
        let timestampColumn = info.timestampColumn ?? info.task.timestampColumn
        let header = try TimeSeries.parse(
            csv: Data(bytes.prefix(while: { $0 != 10 })) + Data("\n".utf8),
            source: data,
            timestampColumn: timestampColumn,
            headerOnly: true
        )
        // The target column is optional: without it the forecasts have no `actual` values.
        let target = info.normalization.target
        let wanted = info.normalization.features + (!info.normalization.features.contains(target) && header.columns.contains(target) ? [target] : [])
        let series = try TimeSeries.parse(csv: bytes, source: data, timestampColumn: timestampColumn, columns: wanted, gaps: info.task.gaps)
        if series.interpolatedRows > 0 {
            FileHandle.standardError.write(
                Data(
                    "note: \(series.interpolatedRows) missing row(s) of \(data) were filled by interpolation; forecasts whose inputs include them use filled values, and those rows have no actual value\n"
                        .utf8
                )
            )
        }
        let forecast = try Forecast.make(model: model, checkpoint: info, series: series)
        let text = forecast.csv(targetName: info.normalization.target)
        if let out {
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                throw CLIError("cannot write \(out): \(error.localizedDescription)")
            }
            print("wrote \(forecast.rows.count) forecasts to \(out)")
        } else {
            print(text, terminator: "")
        }
    }
}
