import ArgumentParser
import Foundation
import RecurEngine
import RecurForecast

/// `recur train`: one forecasting model, trained and evaluated like a single trial.
struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one forecasting model on a task and report validation and test MAE.",
        discussion: """
            The task file is the `task:` block of a sweep (YAML or JSON). The model is either a spec
            JSON (--model) or built from --cell/--units/--depth/… (all but the last layer return
            sequences; a Dense(1) head forecasts the target).

            Examples:
              recur train --task task.yaml --cell gru --units 32 --epochs 10 --seed 1 --out best.safetensors
              recur train --task task.yaml --model stacked.json --epochs 20 --json
            """
    )

    @Option(help: "Task file (YAML or JSON): dataset, target, features, sequence_length, horizon, split…") var task: String
    @Option(help: "Model spec JSON file (instead of --cell …).") var model: String?
    @Option(help: "Cell.") var cell: CellKind?
    @Option(help: "Units per recurrent layer (one value, or one per layer: 32,16).") var units = "32"
    @Option(help: "Recurrent layers.") var depth = 1
    @Option(help: "Input dropout of each recurrent layer.") var dropout = 0.0
    @Option(name: .customLong("recurrent-dropout"), help: "Recurrent dropout of each recurrent layer.") var recurrentDropout = 0.0
    @Option(name: .customLong("head-dropout"), help: "Dropout before the Dense head.") var headDropout = 0.0
    @Flag(help: "Bidirectional recurrent layers.") var bidirectional = false
    @Option(help: "Maximum epochs.") var epochs = 10
    @Option(name: .customLong("batch-size"), help: "Windows per batch.") var batchSize = 256
    @Option(help: "Seed for weights, shuffling and dropout.") var seed: UInt64 = 1
    @Option(help: "Optimizer.") var optimizer = OptimizerConfig.Kind.rmsprop
    @Option(name: [.customLong("lr"), .customLong("learning-rate")], help: "Learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Clip each gradient tensor to this norm.") var clipnorm: Float?
    @Option(help: "Loss.") var loss = Loss.meanSquaredError
    @Option(help: "Early-stopping patience in epochs.") var patience = 3
    @Option(help: "Early-stopping metric.") var monitor = EarlyStopping.Monitor.valMAE
    @Flag(name: .customLong("no-early-stopping"), help: "Train every epoch and keep the last weights.") var noEarlyStopping = false
    @Option(help: "Where to write the best checkpoint (.safetensors).") var out: String?
    @Flag(help: "Print one JSON object with the results at the end (progress goes to standard error).") var json = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if model == nil && cell == nil { throw ValidationError("give --model FILE or --cell simple_rnn|lstm|gru") }
        if model != nil && cell != nil { throw ValidationError("--model and --cell are exclusive") }
        guard epochs >= 1 else { throw ValidationError("--epochs: \(epochs) must be ≥ 1") }
        guard (1...65_536).contains(batchSize) else { throw ValidationError("--batch-size: \(batchSize) must be from 1 to 65536") }
        guard learningRate > 0 && learningRate.isFinite else { throw ValidationError("--lr: \(learningRate) must be a number > 0") }
        if let clipnorm, !(clipnorm > 0 && clipnorm.isFinite) {
            throw ValidationError("--clipnorm: \(clipnorm) must be a number > 0 (or leave it out)")
        }
        for (name, rate) in [("--dropout", dropout), ("--recurrent-dropout", recurrentDropout), ("--head-dropout", headDropout)]
        where !(0..<1).contains(rate) {
            throw ValidationError("\(name): \(rate) must be from 0 up to (not including) 1")
        }
        guard patience >= 0 else { throw ValidationError("--patience: \(patience) must be ≥ 0") }
        guard parsedUnits() != nil else { throw ValidationError("--units: expected integers from 1 to 4096 like 32 or 32,16, got '\(units)'") }
        guard (1...16).contains(depth) else { throw ValidationError("--depth: \(depth) must be from 1 to 16 (as in a sweep's space)") }
    }

    func parsedUnits() -> [Int]? {
        let list = units.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ (1...4096).contains($0 ?? 0) }) else { return nil }
        return list.map { $0! }
    }

    func settings() -> TrainingSettings {
        var s = TrainingSettings()
        s.epochs = epochs
        s.batchSize = batchSize
        s.seed = seed
        s.optimizer = OptimizerConfig(kind: optimizer, learningRate: learningRate)
        s.optimizer.clipnorm = clipnorm
        s.loss = loss.name
        s.earlyStopping = noEarlyStopping ? nil : EarlyStopping(monitor: monitor, patience: patience)
        return s
    }

    func run() throws {
        let taskSpec = try TaskSpec.load(path: task)
        // A checkpoint that cannot be written is found out before training, not after it.
        if let out {
            let directory = URL(fileURLWithPath: out).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            try OutputPath.check(out, option: "--out", example: "best.safetensors", inputs: [task, taskSpec.dataset] + (model.map { [$0] } ?? []))
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
                FileManager.default.isWritableFile(atPath: directory)
            else { throw CLIError("--out: cannot write \(out): \(directory) is not a writable directory") }
        }
        let prepared = try PreparedTask.load(taskSpec)
        let progress = Progress(toStandardError: json)
        if prepared.interpolatedRows > 0 {
            progress.note(
                "warning: \(prepared.interpolatedRows) missing row(s) in \(taskSpec.dataset) were filled by linear interpolation (set gaps: error to refuse); "
                    + "\(prepared.unscoredCount(.validation)) validation and \(prepared.unscoredCount(.test)) test window(s) target a filled row and are not scored"
            )
        }
        let spec: ModelSpec
        if let model {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: model)) } catch {
                throw CLIError("cannot read model file \(model): \(error.localizedDescription)")
            }
            spec = try ModelSpec.parse(json: data)
        } else {
            spec = try Architecture(
                cell: cell!,
                units: parsedUnits()!,
                depth: depth,
                dropout: dropout,
                recurrentDropout: recurrentDropout,
                bidirectional: bidirectional,
                headDropout: headDropout
            ).modelSpec(features: prepared.featureCount)
        }
        let trainer = try Trainer(task: prepared, spec: spec, settings: settings())
        let windows = prepared.windowStarts(.train).count
        progress.note(
            "training on \(windows) windows (\(prepared.scoredStarts(.validation).count) validation, \(prepared.scoredStarts(.test).count) test), \(prepared.featureCount) features, \(trainer.model.parameters.count) parameters"
        )
        let result = try trainer.run(
            onBatch: { done, total, seconds, loss in progress.batch(done: done, total: total, seconds: seconds, loss: loss, epochs: epochs) },
            onEpoch: { report in
                progress.epoch(report, of: epochs)
                return .proceed
            }
        )
        if let out {
            let meta = ForecastCheckpoint(prepared: prepared, task: taskSpec).metadata()
                .merging([
                    "seed": String(seed), "best_epoch": String(result.bestEpoch), "val_mae": String(result.valMAE),
                    "test_mae": String(result.testMAE),
                ]) { $1 }
            do { try Checkpoint.save(trainer.model, to: URL(fileURLWithPath: out), metadata: meta) } catch {
                throw CLIError("cannot write \(out): \(error.localizedDescription)")
            }
        }
        if json {
            var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as! [String: Any]
            if let out { object["checkpoint"] = out }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            let b = result.baselines
            print("")
            print(
                "best epoch \(result.bestEpoch) of \(result.epochsRun) (\(result.stopReason.replacingOccurrences(of: "_", with: " "))), \(String(format: "%.1f", result.seconds)) s"
            )
            print("                      val MAE    test MAE   (\(taskSpec.target))")
            print(String(format: "model               %8.3f    %8.3f", result.valMAE, result.testMAE))
            print(String(format: "persistence         %8.3f    %8.3f", b.persistence.valMAE, b.persistence.testMAE))
            print(String(format: "train mean          %8.3f    %8.3f", b.trainMean.valMAE, b.trainMean.testMAE))
            if let out { print("checkpoint: \(out)") }
        }
    }
}
