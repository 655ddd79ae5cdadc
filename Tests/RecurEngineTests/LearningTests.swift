import Foundation
import Testing

@testable import RecurEngine

/// GRU and LSTM fit a noisy sine: standardized validation MSE below 0.05.
@Suite struct LearningTests {
    @Test(arguments: [CellKind.gru, CellKind.lstm])
    func fitsANoisySine(_ cell: CellKind) throws {
        var rng = SeededGenerator(seed: 17)
        let n = 1400
        let steps = 24
        let horizon = 5
        var series = (0..<n).map { Float(sin(2 * Double.pi * Double($0) / 25)) + Float(rng.nextNormal()) * 0.1 }
        let mean = series.reduce(0, +) / Float(n)
        let std = (series.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(n)).squareRoot()
        series = series.map { ($0 - mean) / std }
        var xs: [Float] = []
        var ys: [Float] = []
        for start in 0..<(n - steps - horizon) {
            xs.append(contentsOf: series[start..<(start + steps)])
            ys.append(series[start + steps - 1 + horizon])
        }
        let count = ys.count
        let trainCount = count * 7 / 10
        let model = try SequentialModel(
            spec: ModelSpec(
                inputFeatures: 1,
                layers: [
                    .recurrent(RecurrentSpec(cell: cell, units: 16)), .dense(units: 1),
                ]
            ),
            seed: 1
        )
        let optimizer = Optimizer(OptimizerConfig(kind: .rmsprop, learningRate: 0.01), parameterCount: model.parameters.count)
        var order = Array(0..<trainCount)
        let batch = 32
        var bx = [Float](repeating: 0, count: batch * steps)
        var by = [Float](repeating: 0, count: batch)
        for _ in 0..<8 {
            order.shuffle(using: &rng)
            for b0 in stride(from: 0, to: trainCount, by: batch) {
                let b = min(batch, trainCount - b0)
                for k in 0..<b {
                    let i = order[b0 + k]
                    for t in 0..<steps { bx[k * steps + t] = xs[i * steps + t] }
                    by[k] = ys[i]
                }
                _ = bx.withUnsafeBufferPointer { xp in
                    by.withUnsafeBufferPointer { yp in
                        model.computeGradients(x: xp.baseAddress!, y: yp.baseAddress!, batch: b, steps: steps, loss: .meanSquaredError, rng: &rng)
                    }
                }
                optimizer.step(model.parameters)
            }
        }
        let valX = Array(xs[(trainCount * steps)...])
        let valY = Array(ys[trainCount...])
        let prediction = try model.predict(valX, count: valY.count, steps: steps)
        let mse = zip(prediction, valY).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / Double(valY.count)
        #expect(mse < 0.05, "\(cell) val MSE \(mse)")
    }
}
