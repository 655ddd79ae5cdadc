import ArgumentParser
import Foundation
import RecurEngine

extension Bench {
    struct EngineBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "engine",
            abstract: "Training throughput of the five lecture models (samples/s, one thread).",
            discussion: """
                Trains each model on random data with RMSprop and MSE: one step = forward + backward +
                update. Compare with ../shared/anchors/keras_rnn_speed.py and torch_rnn_speed.py run
                on the same machine at the same time (docs/performance.md). Build with -c release.

                Example:
                  swift build -c release && .build/release/recur bench engine --json
                """
        )

        @Option(help: "Models: simple_rnn, lstm, gru, stacked_gru, bilstm (comma-separated) or all.")
        var models = "all"
        @Option(help: "Feature counts (comma-separated).") var features = "1,14"
        @Option(help: "Batch size.") var batch = 256
        @Option(name: .customLong("seq-len"), help: "Timesteps per sample.") var seqLen = 120
        @Option(help: "Timed steps per case.") var steps = 20
        @Option(help: "Untimed warm-up steps per case.") var warmup = 3
        @Option(name: .customLong("micro-batch"), help: "Samples per forward/backward chunk (0: the engine default).")
        var microBatch = 0
        @Flag(help: "One JSON object per case and line.") var json = false
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (1...65_536).contains(batch), (1...100_000).contains(seqLen), (1...1_000_000).contains(steps), (0...1_000_000).contains(warmup)
            else {
                throw ValidationError("--batch (1–65536), --seq-len (1–100000) and --steps (1–1000000) must be in range, --warmup 0–1000000")
            }
            _ = try parsedModels()
            _ = try parsedFeatures()
        }

        func parsedModels() throws -> [String] {
            if models == "all" { return LectureModels.names }
            let list = models.split(separator: ",").map { String($0) }
            for name in list where !LectureModels.names.contains(name) {
                throw ValidationError("--models: unknown model '\(name)'; expected \(LectureModels.names.joined(separator: ", ")) or all")
            }
            return list
        }

        func parsedFeatures() throws -> [Int] {
            let list = features.split(separator: ",").compactMap { Int($0) }
            guard !list.isEmpty, list.count == features.split(separator: ",").count, list.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--features: expected positive integers like 1,14, got '\(features)'")
            }
            return list
        }

        func run() throws {
            TrainingThread.prepare()
            let blas = BLASInfo.current
            if !json {
                print("BLAS: \(blas.library), kernel \(blas.coreName) (\(blas.configuration))")
                print("small products: \(GemmPath.detected.summary)")
                print(
                    "denormals flushed to zero: \(TrainingThread.flushesDenormals), threads: 1, batch \(batch), seq_len \(seqLen), \(steps) timed steps"
                )
                print("model        F   samples/s   ms/step   GFLOP/s")
            }
            for name in try parsedModels() {
                for f in try parsedFeatures() {
                    let spec = LectureModels.spec(name, features: f)
                    let model = try SequentialModel(spec: spec, seed: 1)
                    if microBatch > 0 { model.microBatchSize = microBatch }
                    let optimizer = Optimizer(OptimizerConfig(kind: .rmsprop), parameterCount: model.parameters.count)
                    var rng = SeededGenerator(seed: 2)
                    let x = (0..<(batch * seqLen * f)).map { _ in Float(rng.nextNormal()) }
                    let y = (0..<batch).map { _ in Float(rng.nextNormal()) }
                    func step() {
                        x.withUnsafeBufferPointer { xs in
                            y.withUnsafeBufferPointer { ys in
                                _ = model.computeGradients(
                                    x: xs.baseAddress!,
                                    y: ys.baseAddress!,
                                    batch: batch,
                                    steps: seqLen,
                                    loss: .meanSquaredError,
                                    rng: &rng
                                )
                            }
                        }
                        optimizer.step(model.parameters)
                    }
                    for _ in 0..<warmup { step() }
                    let clock = ContinuousClock()
                    let elapsed = clock.measure { for _ in 0..<steps { step() } }
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                    let samplesPerSecond = Double(batch * steps) / seconds
                    let flopsPerSample = spec.trainingFLOPsPerSample(steps: seqLen)
                    let gflops = flopsPerSample * samplesPerSecond / 1e9
                    if json {
                        let object: [String: Any] = [
                            "model": name, "features": f, "batch": batch, "seq_len": seqLen, "threads": 1,
                            "samples_per_sec": (samplesPerSecond * 10).rounded() / 10, "gflops": (gflops * 100).rounded() / 100,
                            "flops_per_sample": flopsPerSample,
                            "blas": blas.library, "blas_kernel": blas.coreName, "blas_config": blas.configuration,
                            "kernels": GemmPath.detected.description, "fused_steps": model.lastForwardFused,
                        ]
                        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                    } else {
                        print(
                            name.padding(toLength: 11, withPad: " ", startingAt: 0)
                                + String(format: "%3d %11.0f %9.2f %9.1f", f, samplesPerSecond, seconds * 1000 / Double(steps), gflops)
                        )
                    }
                }
            }
        }
    }
}

/// The five models of the lecture (anchors README: a–e), each → Dense(1).
enum LectureModels {
    static let names = ["simple_rnn", "lstm", "gru", "stacked_gru", "bilstm"]

    static func spec(_ name: String, features: Int) -> ModelSpec {
        let layers: [LayerSpec]
        switch name {
        case "simple_rnn": layers = [.recurrent(RecurrentSpec(cell: .simpleRNN, units: 32))]
        case "lstm": layers = [.recurrent(RecurrentSpec(cell: .lstm, units: 32))]
        case "gru": layers = [.recurrent(RecurrentSpec(cell: .gru, units: 32))]
        case "stacked_gru":
            layers = [
                .recurrent(RecurrentSpec(cell: .gru, units: 32, returnSequences: true, recurrentDropout: 0.5)),
                .recurrent(RecurrentSpec(cell: .gru, units: 32, recurrentDropout: 0.5)),
                .dropout(rate: 0.5),
            ]
        default: layers = [.recurrent(RecurrentSpec(cell: .lstm, units: 16, bidirectional: true))]
        }
        return ModelSpec(inputFeatures: features, layers: layers + [.dense(units: 1)])
    }
}
