import Foundation
import RecurEngine
import RecurForecast
import Testing

/// `recur train`, `recur predict` and `recur data synth` through the built binary.
@Suite(.systemTestSlot) struct TrainCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A small synthetic series (48 rows per day) so training takes a fraction of a second.
    static func writeSmallTask(in dir: URL, rows: Int = 700, horizon: Int = 6) throws {
        var csv = "timestamp,load,temp\n"
        for i in 0..<rows {
            let t = 978_307_200 + Int64(i) * 1800
            csv +=
                "\(Timestamp.format(t)),\(String(format: "%.3f", 50 + 10 * sin(Double(i) * 2 * .pi / 48))),\(String(format: "%.3f", 10 + 5 * cos(Double(i) * 2 * .pi / 48)))\n"
        }
        try Data(csv.utf8).write(to: dir.appendingPathComponent("small.csv"))
        try Data("dataset: small.csv\ntarget: load\nsequence_length: 24\nhorizon: \(horizon)\n".utf8).write(
            to: dir.appendingPathComponent("task.yaml")
        )
    }

    @Test func trainWritesJSONAndACheckpointThatPredicts() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.writeSmallTask(in: dir)
        let train = try await RecurBinary.run(
            [
                "train", "--task", "task.yaml", "--cell", "lstm", "--units", "8", "--depth", "2", "--epochs", "3", "--seed", "2",
                "--batch-size", "64", "--lr", "0.01", "--out", "best.safetensors", "--json",
            ],
            directory: dir
        )
        #expect(train.status == 0, "\(train.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any])
        for key in ["val_mae", "test_mae", "best_epoch", "epochs_run", "history", "baselines"] { #expect(object[key] != nil, "missing \(key)") }
        #expect((object["history"] as? [Any])?.count == object["epochs_run"] as? Int)
        let (_, metadata) = try Checkpoint.load(from: dir.appendingPathComponent("best.safetensors"))
        let info = try ForecastCheckpoint(metadata: metadata)
        #expect(info.task.target == "load" && info.normalization.features == ["load", "temp"])

        let predict = try await RecurBinary.run(
            ["predict", "--checkpoint", "best.safetensors", "--data", "small.csv", "--out", "f.csv"],
            directory: dir
        )
        #expect(predict.status == 0, "\(predict.stderr)")
        let lines = try String(contentsOf: dir.appendingPathComponent("f.csv"), encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "origin,target_time,forecast_load,actual_load")
        let windows = 700 - 24 + 1
        #expect(lines.count == 1 + windows)
        // The last window forecasts beyond the data: no actual value; its time is 6 steps after the last row.
        #expect(lines.last!.hasSuffix(","))
        #expect(lines.last!.hasPrefix("2001-01-15T13:30,2001-01-15T16:30,"))
    }

    /// A model of the change (`target_mode: delta`) trains, checkpoints and predicts in the
    /// target's own units: `recur predict` adds the last observed value back.
    @Test func deltaTargetsPredictInTheTargetsUnits() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.writeSmallTask(in: dir)
        let task = dir.appendingPathComponent("task.yaml")
        try Data((try String(contentsOf: task, encoding: .utf8) + "target_mode: delta\n").utf8).write(to: task)
        let train = try await RecurBinary.run(
            [
                "train", "--task", "task.yaml", "--cell", "gru", "--units", "8", "--epochs", "4", "--seed", "1", "--lr", "0.01", "--out",
                "d.safetensors", "--json",
            ],
            directory: dir
        )
        #expect(train.status == 0, "\(train.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any])
        let valMAE = try #require(object["val_mae"] as? Double)
        #expect(valMAE < 5, "val MAE \(valMAE) in load units (the series spans 40–60)")
        let (_, metadata) = try Checkpoint.load(from: dir.appendingPathComponent("d.safetensors"))
        #expect(try ForecastCheckpoint(metadata: metadata).task.mode == .delta)
        let predict = try await RecurBinary.run(
            ["predict", "--checkpoint", "d.safetensors", "--data", "small.csv", "--out", "f.csv"],
            directory: dir
        )
        #expect(predict.status == 0, "\(predict.stderr)")
        let rows = try String(contentsOf: dir.appendingPathComponent("f.csv"), encoding: .utf8).split(separator: "\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false)
        }
        let pairs = rows.compactMap { r -> (Double, Double)? in Double(r[2]).flatMap { f in Double(r[3]).map { (f, $0) } } }
        #expect(pairs.count > 600)
        let mae = pairs.map { abs($0.0 - $0.1) }.reduce(0, +) / Double(pairs.count)
        #expect(pairs.allSatisfy { (35...65).contains($0.0) } && mae < 5, "forecast MAE \(mae) over \(pairs.count) rows")
    }

    @Test func trainPrintsASummaryWithBaselines() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.writeSmallTask(in: dir)
        let result = try await RecurBinary.run(["train", "--task", "task.yaml", "--cell", "gru", "--units", "4", "--epochs", "2"], directory: dir)
        #expect(result.status == 0, "\(result.stderr)")
        for text in ["epoch 1/2", "val MAE", "persistence", "train mean", "best epoch"] { #expect(result.stdout.contains(text), "\(result.stdout)") }
    }

    static let badRuns: [(arguments: [String], message: String, status: Int32)] = [
        (["train", "--task", "missing.yaml", "--cell", "gru"], "task file missing.yaml: cannot read it", 1),
        (["train", "--task", "task.yaml"], "give --model FILE or --cell", 64),
        (["train", "--task", "task.yaml", "--cell", "transformer"], "The value 'transformer' is invalid for '--cell <cell>'", 64),
        (["train", "--task", "task.yaml", "--cell", "gru", "--epochs", "0"], "--epochs: 0 must be ≥ 1", 64),
        (["train", "--task", "task.yaml", "--cell", "gru", "--units", "32,x"], "--units: expected integers from 1 to 4096", 64),
        (["train", "--task", "task.yaml", "--cell", "gru", "--lr", "0"], "--lr: 0.0 must be a number > 0", 64),
        (["train", "--task", "task.yaml", "--cell", "gru", "--dropout", "1.5"], "--dropout: 1.5 must be from 0 up to (not including) 1", 64),
        (["train", "--task", "task.yaml", "--cell", "gru", "--head-dropout=-1"], "--head-dropout: -1.0 must be from 0", 64),
        (["train", "--task", "task.yaml", "--cell", "gru", "--clipnorm", "0"], "--clipnorm: 0.0 must be a number > 0", 64),
        (
            ["train", "--task", "task.yaml", "--cell", "gru", "--batch-size", "9223372036854775807"],
            "--batch-size: 9223372036854775807 must be from 1 to 65536", 64
        ),
        (["train", "--task", "task.yaml", "--cell", "gru", "--out", "."], "--out .: is a directory", 1),
        (["train", "--task", "task.yaml", "--cell", "gru", "--out", "small.csv"], "--out small.csv: is this command's input small.csv", 1),
        (["train", "--task", "task.yaml", "--cell", "gru", "--depth", "1000000"], "--depth: 1000000 must be from 1 to 16", 64),
        (
            ["predict", "--checkpoint", "plain.safetensors", "--data", "small.csv", "--out", "small.csv"], "--out small.csv: is this command's input",
            1
        ),
        (["train", "--task", "dup.yaml", "--cell", "gru"], "the header names column 'load' twice", 1),
        // A token file that holds no token is an error, never replaced (a binary file once was).
        (["serve", "--db", "s.db", "--token-file", "plain.safetensors", "--listen", "unix:s.sock"], "cannot read token file plain.safetensors", 1),
        (["serve", "--db", "s.db", "--token-file", "small.csv", "--listen", "unix:s.sock"], "token file small.csv does not hold a token", 1),
        (["train", "--task", "dirdata.yaml", "--cell", "gru"], "it is a directory; give the CSV file", 1),
        (["train", "--task", "task.yaml", "--cell", "gru", "--bogus"], "Unknown option '--bogus'", 64),
        (["train", "--task", "long.yaml", "--cell", "gru"], "the train split has 350 rows but one window spans 1030", 1),
        (["train", "--task", "nocolumn.yaml", "--cell", "gru"], "task.target: no column 'price' in small.csv", 1),
        (["train", "--task", "nofile.yaml", "--cell", "gru"], "task.dataset: cannot read nothere.csv", 1),
        (["predict", "--checkpoint", "plain.safetensors", "--data", "small.csv"], "no task or normalization metadata", 1),
        (["data", "synth", "--rows", "0", "--out", "x.csv"], "--rows: 0 must be between 1 and", 64),
        (["train", "--task", "task.yaml", "--cell", "gru", "--out", "nodir/x.safetensors"], "--out: cannot write nodir/x.safetensors", 1),
    ]

    @Test(arguments: badRuns.indices)
    func badInputIsAOneLineErrorAndNonZeroExit(_ i: Int) async throws {
        let bad = Self.badRuns[i]
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.writeSmallTask(in: dir)
        try Data("dataset: small.csv\ntarget: load\nsequence_length: 1000\nhorizon: 30\n".utf8).write(to: dir.appendingPathComponent("long.yaml"))
        try Data("dataset: small.csv\ntarget: price\n".utf8).write(to: dir.appendingPathComponent("nocolumn.yaml"))
        try Data("dataset: nothere.csv\ntarget: load\n".utf8).write(to: dir.appendingPathComponent("nofile.yaml"))
        try Data("dataset: .\ntarget: load\n".utf8).write(to: dir.appendingPathComponent("dirdata.yaml"))
        let small = try String(contentsOf: dir.appendingPathComponent("small.csv"), encoding: .utf8)
        try Data(small.replacingOccurrences(of: "timestamp,load,temp", with: "timestamp,load,load").utf8).write(
            to: dir.appendingPathComponent("dup.csv")
        )
        try Data("dataset: dup.csv\ntarget: load\n".utf8).write(to: dir.appendingPathComponent("dup.yaml"))
        let plain = try SequentialModel(
            spec: ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 2)), .dense(units: 1)]),
            seed: 1
        )
        try Checkpoint.save(plain, to: dir.appendingPathComponent("plain.safetensors"))
        let result = try await RecurBinary.run(bad.arguments, directory: dir)
        #expect(result.status == bad.status, "\(bad.arguments): \(result.stderr)")
        #expect(result.stderr.contains(bad.message), "\(bad.arguments): \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }

    /// predict reads the data as the model was trained: the timestamp column by name (columns may
    /// be in another order), the training row spacing (another spacing is refused, not silently
    /// mis-timed), and no `actual` for a target row that interpolation made up.
    @Test func predictFollowsTheTrainingData() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.writeSmallTask(in: dir)
        let train = try await RecurBinary.run(
            ["train", "--task", "task.yaml", "--cell", "gru", "--units", "4", "--epochs", "1", "--out", "m.safetensors"],
            directory: dir
        )
        #expect(train.status == 0, "\(train.stderr)")
        let lines = try String(contentsOf: dir.appendingPathComponent("small.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        func write(_ name: String, _ rows: [String]) async throws {
            try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent(name))
        }
        // Columns reordered: temp, timestamp, load.
        try await write(
            "reordered.csv",
            lines.map { line in
                let c = line.split(separator: ",").map(String.init)
                return [c[2], c[0], c[1]].joined(separator: ",")
            }
        )
        let reordered = try await RecurBinary.run(
            ["predict", "--checkpoint", "m.safetensors", "--data", "reordered.csv", "--out", "r.csv"],
            directory: dir
        )
        #expect(reordered.status == 0, "\(reordered.stderr)")
        let same = try await RecurBinary.run(["predict", "--checkpoint", "m.safetensors", "--data", "small.csv", "--out", "s.csv"], directory: dir)
        let r = try Data(contentsOf: dir.appendingPathComponent("r.csv"))
        let s = try Data(contentsOf: dir.appendingPathComponent("s.csv"))
        #expect(same.status == 0 && r == s)
        // Every other row: hourly data for a model trained on half-hourly rows.
        try await write("hourly.csv", [lines[0]] + lines.dropFirst().enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        let hourly = try await RecurBinary.run(["predict", "--checkpoint", "m.safetensors", "--data", "hourly.csv"], directory: dir)
        #expect(
            hourly.status == 1 && hourly.stderr.contains("rows are 3600 s apart, but the model was trained on rows 1800 s apart"),
            "\(hourly.stderr)"
        )
        // Rows 101–103 missing: filled, announced, and never scored as actual values.
        try await write("gappy.csv", lines.enumerated().filter { !(102...104).contains($0.offset) }.map(\.element))
        let gappy = try await RecurBinary.run(["predict", "--checkpoint", "m.safetensors", "--data", "gappy.csv", "--out", "g.csv"], directory: dir)
        #expect(gappy.status == 0 && gappy.stderr.contains("3 missing row(s) of gappy.csv were filled by interpolation"), "\(gappy.stderr)")
        let rows = try String(contentsOf: dir.appendingPathComponent("g.csv"), encoding: .utf8).split(separator: "\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false)
        }
        let filledTargets = Set((101...103).map { Timestamp.format(978_307_200 + Int64($0) * 1800) })
        let blank = rows.filter { filledTargets.contains(String($0[1])) }
        #expect(blank.count == 3 && blank.allSatisfy { $0[3].isEmpty }, "\(blank)")
    }

    /// A certificate and key that are not a pair fail at start, naming both flags (it was a bare
    /// `failedToLoadCertificate`).
    @Test func aMismatchedTLSPairIsNamed() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let initialized = try await RecurBinary.run(["tls", "init", "--out", "tls", "--host", "127.0.0.1"], directory: dir)
        try #require(initialized.status == 0, "\(initialized.stderr)")
        let serve = try await RecurBinary.run(
            [
                "serve", "--db", "s.db", "--listen", "tcp://127.0.0.1:\(Cluster.freePort())", "--tls-cert", "tls/ca.pem", "--tls-key",
                "tls/server-key.pem",
            ],
            directory: dir
        )
        #expect(
            serve.status == 1 && serve.stderr.contains("--tls-key tls/server-key.pem is not the private key of --tls-cert tls/ca.pem"),
            "\(serve.stderr)"
        )
    }

    @Test func synthWritesAJenaLikeSeriesThatLoads() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await RecurBinary.run(["data", "synth", "--rows", "3000", "--seed", "5", "--out", "jena.csv"], directory: dir)
        #expect(result.status == 0, "\(result.stderr)")
        let series = try TimeSeries.load(path: dir.appendingPathComponent("jena.csv").path)
        #expect(series.columns.count == 14 && series.rowCount == 3000 && series.step == 600)
        let t = series.column("T_degC")!
        let temps = (0..<3000).map { series.values[$0 * 14 + t] }
        #expect(temps.min()! > -40 && temps.max()! < 45)
        // Same seed, same file.
        _ = try await RecurBinary.run(["data", "synth", "--rows", "3000", "--seed", "5", "--out", "again.csv"], directory: dir)
        #expect(try Data(contentsOf: dir.appendingPathComponent("jena.csv")) == Data(contentsOf: dir.appendingPathComponent("again.csv")))
    }
}
