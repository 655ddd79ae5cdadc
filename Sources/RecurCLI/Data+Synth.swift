import ArgumentParser
import Foundation
import RecurForecast

/// `recur data …`: datasets.
struct DataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Make datasets (a synthetic Jena-like weather series).",
        subcommands: [Synth.self]
    )

    struct Synth: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a seeded, Jena-like synthetic weather series (14 features, 10-minute steps).",
            discussion: """
                Daily and yearly cycles, slowly varying weather anomalies and noise, with linked
                columns (dew point, humidity, vapour pressure, air density). For scale tests.

                Example:
                  recur data synth --rows 420551 --seed 7 --out datasets/jena-like.csv
                """
        )

        @Option(help: "Rows (at most \(SyntheticWeather.maximumRows)).") var rows = 52_560
        @Option(help: "Seed.") var seed: UInt64 = 7
        @Option(help: "Output CSV path.") var out: String

        func validate() throws {
            guard (1...SyntheticWeather.maximumRows).contains(rows) else {
                throw ValidationError("--rows: \(rows) must be between 1 and \(SyntheticWeather.maximumRows)")
            }
        }

        func run() throws {
            try OutputPath.check(out, option: "--out", example: "synth.csv", inputs: [])
            guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                throw CLIError("cannot create \(out)")
            }
            defer { try? handle.close() }
            try SyntheticWeather.write(rows: rows, seed: seed, to: handle)
            print("wrote \(rows) rows × \(SyntheticWeather.columns.count) features to \(out)")
        }
    }
}
