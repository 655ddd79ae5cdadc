import Foundation
import RecurEngine
import RecurForecast
import Synchronization

extension CostCalibration {
    /// Times training batches of each model on random data of the task's shape, on `concurrency`
    /// threads at once, each prepared as a worker's training thread (single-threaded BLAS,
    /// denormals flushed), within `budget` seconds in all. The run trains on several cores at once,
    /// which share caches, memory bandwidth and clock: one thread alone measured a 2-vCPU machine's
    /// epochs 1.2–1.8× faster than two workers ran them. Each model's rate is the slowest thread's
    /// fastest batch. A model whose batch would not fit its share is timed on fewer windows.
    ///
    /// - Parameters:
    ///   - models: each model with its batch size.
    ///   - steps: the task's sequence length.
    ///   - concurrency: the workers the sweep will run on this machine at once (at most its cores).
    public static func measure(
        models: [(spec: ModelSpec, batch: Int)],
        steps: Int,
        concurrency: Int = 1,
        budget: Double = 2.7
    ) throws -> CostCalibration {
        let threads = max(1, concurrency)
        let results = Mutex<[Result<[Point], any Error>]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let result = Result { try measureOnThisThread(models: models, steps: steps, budget: budget) }
            results.withLock { $0.append(result) }
        }
        let perThread = try results.withLock { $0 }.map { try $0.get() }
        let points = models.indices.map { i in perThread.map { $0[i] }.max { $0.secondsPerSample < $1.secondsPerSample }! }
        return CostCalibration(points: points)
    }

    private static func measureOnThisThread(models: [(spec: ModelSpec, batch: Int)], steps: Int, budget: Double) throws -> [Point] {
        TrainingThread.prepare()
        let share = budget / Double(max(1, models.count))
        let clock = ContinuousClock()
        var points: [Point] = []
        for (spec, batch) in models {
            let model = try SequentialModel(spec: spec, seed: 1)
            let optimizer = Optimizer(OptimizerConfig(kind: .rmsprop), parameterCount: model.parameters.count)
            var rng = SeededGenerator(seed: 2)
            let f = spec.inputFeatures
            // Random inputs of the task's shape, drawn once (drawing them costs more than small models).
            let x = (0..<(batch * steps * f)).map { _ in Float(rng.nextNormal()) }
            let y = (0..<batch).map { _ in Float(rng.nextNormal()) }
            /// Seconds for one batch of the first `b` windows.
            func time(_ b: Int) -> Double {
                let start = clock.now
                _ = x.withUnsafeBufferPointer { xs in
                    y.withUnsafeBufferPointer { ys in
                        model.computeGradients(x: xs.baseAddress!, y: ys.baseAddress!, batch: b, steps: steps, loss: .meanSquaredError, rng: &rng)
                    }
                }
                optimizer.step(model.parameters)
                return (clock.now - start).seconds
            }
            // A probe of 8 windows sizes the timed batches to the share (and warms caches up).
            let probe = time(min(8, batch)) / Double(min(8, batch))
            let b = max(1, min(batch, Int(share / 4 / max(probe, 1e-9))))
            // One untimed batch at the timed size: its first call sizes the model's buffers.
            _ = time(b)
            // The fastest batch: on a shared machine the slower ones measure the neighbours.
            let started = clock.now
            var (fastest, batches) = (Double.infinity, 0)
            repeat {
                fastest = min(fastest, time(b))
                batches += 1
            } while (clock.now - started).seconds + fastest < share * 0.6 && batches < 64
            points.append(Point(flopsPerSample: spec.trainingFLOPsPerSample(steps: steps), secondsPerSample: fastest / Double(b)))
        }
        return points
    }
}
