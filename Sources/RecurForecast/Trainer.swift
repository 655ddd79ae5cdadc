import Foundation
import RecurEngine

/// Keras-style early stopping. Defaults: monitor val_mae, patience 3, min_delta 0, restore best.
public struct EarlyStopping: Codable, Sendable, Hashable {
    public enum Monitor: String, Codable, Sendable, CaseIterable {
        case valLoss = "val_loss"
        case valMAE = "val_mae"
    }
    public var monitor: Monitor = .valMAE
    public var patience: Int = 3
    public var minDelta: Double = 0
    public var restoreBest: Bool = true

    public init(monitor: Monitor = .valMAE, patience: Int = 3, minDelta: Double = 0, restoreBest: Bool = true) {
        self.monitor = monitor
        self.patience = patience
        self.minDelta = minDelta
        self.restoreBest = restoreBest
    }

    enum CodingKeys: String, CodingKey {
        case monitor, patience
        case minDelta = "min_delta"
        case restoreBest = "restore_best"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        monitor = try c.decodeIfPresent(Monitor.self, forKey: .monitor) ?? .valMAE
        patience = try c.decodeIfPresent(Int.self, forKey: .patience) ?? 3
        minDelta = try c.decodeIfPresent(Double.self, forKey: .minDelta) ?? 0
        restoreBest = try c.decodeIfPresent(Bool.self, forKey: .restoreBest) ?? true
    }
}

/// How to train one model. Defaults follow the lecture: RMSprop 1e-3, batch 256, MSE, 10 epochs.
public struct TrainingSettings: Codable, Sendable, Hashable {
    public var epochs: Int = 10
    public var batchSize: Int = 256
    public var seed: UInt64 = 1
    public var optimizer = OptimizerConfig(kind: .rmsprop)
    public var loss: String = "mse"
    public var earlyStopping: EarlyStopping? = EarlyStopping()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case epochs
        case batchSize = "batch_size"
        case seed, optimizer, loss
        case earlyStopping = "early_stopping"
    }

    public func problems(prefix: String = "training") -> [String] {
        var out: [String] = []
        if epochs < 1 { out.append("\(prefix).epochs: \(epochs) must be ≥ 1") }
        if batchSize < 1 { out.append("\(prefix).batch_size: \(batchSize) must be ≥ 1") }
        if !(optimizer.learningRate > 0) { out.append("\(prefix).learning_rate: \(optimizer.learningRate) must be > 0") }
        if let c = optimizer.clipnorm, !(c > 0 && c.isFinite) { out.append("\(prefix).clipnorm: \(c) must be a number > 0 (or absent)") }
        if Loss(name: loss) == nil { out.append("\(prefix).loss: '\(loss)' is not one of mse, mae, huber") }
        if let e = earlyStopping, e.patience < 0 { out.append("\(prefix).early_stopping.patience: \(e.patience) must be ≥ 0") }
        return out
    }
}

/// What the per-epoch callback receives.
public struct EpochReport: Codable, Sendable, Equatable {
    /// 1-based.
    public var epoch: Int
    public var trainLoss: Double
    public var valLoss: Double
    /// Validation MAE in the target's original units.
    public var valMAE: Double
    public var seconds: Double
    /// Training samples per second this epoch.
    public var samplesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case epoch
        case trainLoss = "train_loss"
        case valLoss = "val_loss"
        case valMAE = "val_mae"
        case seconds
        case samplesPerSecond = "samples_per_sec"
    }
}

/// Thrown when `Trainer.run`'s `interrupt` asks to abandon training mid-epoch.
public struct TrainingInterrupted: Error, Sendable {
    public var epoch: Int
}

/// The callback's answer: go on, or stop (pruned, cancelled, interrupted).
public enum EpochDecision: Sendable { case proceed, stop }

/// The outcome of a training run.
public struct TrainingResult: Codable, Sendable, Equatable {
    public var valMAE: Double
    public var testMAE: Double
    public var bestEpoch: Int
    public var epochsRun: Int
    /// Why training ended: `completed`, `early_stopping` or `stopped` (by the callback).
    public var stopReason: String
    public var history: [EpochReport]
    public var baselines: Baselines
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case valMAE = "val_mae"
        case testMAE = "test_mae"
        case bestEpoch = "best_epoch"
        case epochsRun = "epochs_run"
        case stopReason = "stop_reason"
        case history, baselines, seconds
    }
}

/// Trains a model on a prepared task, epoch by epoch, with early stopping and restore-best.
public final class Trainer {
    public let task: PreparedTask
    public let model: SequentialModel
    public let settings: TrainingSettings
    private let loss: Loss
    private var x: [Float] = []
    private var y: [Float] = []
    private var prediction: [Float] = []

    public init(task: PreparedTask, spec: ModelSpec, settings: TrainingSettings) throws {
        guard spec.inputFeatures == task.featureCount else {
            throw ForecastError("model: input_features is \(spec.inputFeatures) but the task has \(task.featureCount) features")
        }
        guard spec.output == (false, 1) else {
            throw ForecastError("model: the last layer must output one value per window (end with dense units 1)")
        }
        if let problem = settings.problems().first { throw ForecastError(problem) }
        self.task = task
        self.settings = settings
        loss = Loss(name: settings.loss)!
        model = try SequentialModel(spec: spec, seed: settings.seed)
    }

    /// Runs up to `settings.epochs` epochs, calling `onEpoch` after each; computes test MAE once at
    /// the end, for the restored best weights.
    ///
    /// - Parameters:
    ///   - onBatch: progress within an epoch: windows done, windows in the epoch, seconds so far,
    ///     mean training loss so far.
    ///   - interrupt: asked after every batch with the epoch's number; true abandons training at
    ///     once by throwing ``TrainingInterrupted`` (a worker told to stop does not finish the epoch).
    ///   - onEpoch: after each epoch; `.stop` ends training (the best weights are still restored).
    public func run(
        interrupt: (Int) -> Bool = { _ in false },
        onBatch: (Int, Int, Double, Double) -> Void = { _, _, _, _ in },
        onEpoch: (EpochReport) -> EpochDecision = { _ in .proceed }
    ) throws -> TrainingResult {
        TrainingThread.prepare()
        let clock = ContinuousClock()
        let started = clock.now
        let optimizer = Optimizer(settings.optimizer, parameterCount: model.parameters.count)
        var rng = SeededGenerator(seed: settings.seed &+ 0x5EED)
        var order = Array(task.windowStarts(.train))
        let (t, f, batch) = (task.spec.sequenceLength, task.featureCount, settings.batchSize)
        // A batch larger than the training set is the whole set: no buffer beyond it.
        let capacity = max(1, min(batch, order.count))
        x = [Float](repeating: 0, count: capacity * t * f)
        y = [Float](repeating: 0, count: capacity)
        var history: [EpochReport] = []
        var best = (value: Double.infinity, epoch: 0, weights: model.parameters.flatValues)
        var wait = 0
        var reason = "completed"
        let validates = task.hasValidation
        for epoch in 1...settings.epochs {
            let epochStart = clock.now
            order.shuffle(using: &rng)
            var lossSum = 0.0
            for b0 in stride(from: 0, to: order.count, by: batch) {
                let b = min(batch, order.count - b0)
                x.withUnsafeMutableBufferPointer { xs in
                    y.withUnsafeMutableBufferPointer { ys in task.gather(order[b0..<(b0 + b)], x: xs.baseAddress!, y: ys.baseAddress!) }
                }
                let result = x.withUnsafeBufferPointer { xs in
                    y.withUnsafeBufferPointer { ys in
                        model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: b, steps: t, loss: loss, rng: &rng)
                    }
                }
                guard result.loss.isFinite else {
                    throw TrainingDiverged(
                        "training diverged: the loss is \(result.loss) in epoch \(epoch), batch \(b0 / batch + 1); lower the learning rate or set clipnorm"
                    )
                }
                optimizer.step(model.parameters)
                lossSum += result.loss * Double(b)
                onBatch(b0 + b, order.count, (clock.now - epochStart).seconds, lossSum / Double(b0 + b))
                if interrupt(epoch) { throw TrainingInterrupted(epoch: epoch) }
            }
            let trainSeconds = (clock.now - epochStart).seconds
            // A refit has no validation rows: it reports NaN and runs every epoch, keeping the last.
            let val = validates ? evaluate(.validation) : (loss: Double.nan, mae: Double.nan)
            guard !validates || (val.loss.isFinite && val.mae.isFinite) else {
                throw TrainingDiverged(
                    "training diverged: the validation loss is \(val.loss) after epoch \(epoch); lower the learning rate or set clipnorm"
                )
            }
            let report = EpochReport(
                epoch: epoch,
                trainLoss: lossSum / Double(order.count),
                valLoss: val.loss,
                valMAE: val.mae,
                seconds: (clock.now - epochStart).seconds,
                samplesPerSecond: Double(order.count) / trainSeconds
            )
            history.append(report)
            let monitored = settings.earlyStopping?.monitor == .valLoss ? report.valLoss : report.valMAE
            // Keras: an improvement must beat the best by more than min_delta.
            if validates && (monitored + (settings.earlyStopping?.minDelta ?? 0) < best.value || epoch == 1) {
                best = (monitored, epoch, settings.earlyStopping?.restoreBest == true ? model.parameters.flatValues : [])
                wait = 0
            } else {
                wait += 1
            }
            if onEpoch(report) == .stop {
                reason = "stopped"
                break
            }
            // Keras stops only after an epoch without improvement (so patience 0 stops at the first one).
            if validates, let e = settings.earlyStopping, wait > 0, wait >= e.patience, epoch < settings.epochs {
                reason = "early_stopping"
                break
            }
        }
        let restore = validates && settings.earlyStopping?.restoreBest == true
        if restore { model.parameters.flatValues = best.weights }
        let bestEpoch = restore ? best.epoch : history.count
        let test = evaluate(.test)
        return TrainingResult(
            valMAE: history[bestEpoch - 1].valMAE,
            testMAE: test.mae,
            bestEpoch: bestEpoch,
            epochsRun: history.count,
            stopReason: reason,
            history: history,
            baselines: task.baselines(),
            seconds: (clock.now - started).seconds
        )
    }

    /// Mean loss (standardized units) and MAE (original units) over the scored windows of a split
    /// (those whose target row was observed; see `PreparedTask.scoredStarts`).
    public func evaluate(_ split: PreparedTask.Split) -> (loss: Double, mae: Double) {
        let starts = task.scoredStarts(split)
        let (t, f) = (task.spec.sequenceLength, task.featureCount)
        let chunk = max(1, min(max(settings.batchSize, 256), starts.count))
        if x.count < chunk * t * f {
            x = [Float](repeating: 0, count: chunk * t * f)
            y = [Float](repeating: 0, count: chunk)
        }
        var lossSum = 0.0
        var maeSum = 0.0
        for s in stride(from: 0, to: starts.count, by: chunk) {
            let b = min(chunk, starts.count - s)
            let r = x.withUnsafeMutableBufferPointer { xs in
                y.withUnsafeMutableBufferPointer { ys in
                    task.gather(starts[s..<(s + b)], x: xs.baseAddress!, y: ys.baseAddress!)
                    return model.evaluate(x: xs.baseAddress!, y: ys.baseAddress!, batch: b, steps: t, loss: loss)
                }
            }
            lossSum += r.loss * Double(b)
            maeSum += r.mae * Double(b)
        }
        let n = Double(starts.count)
        return (lossSum / n, maeSum / n * task.normalization.targetStd)
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
