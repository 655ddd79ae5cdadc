/// A SimpleRNN, LSTM or GRU layer, optionally `Bidirectional` (Keras 3 semantics).
///
/// Input `[T, B, F]`; output `[T, B, C]` with `return_sequences`, else `[B, C]`, where `C` is `H`
/// or `2H` for a concatenated bidirectional layer. The backward direction's outputs are merged
/// in chronological order; a single `go_backwards` layer returns its sequence in processing order.
final class RecurrentLayer: Layer {
    let spec: RecurrentSpec
    let directions: [RecurrentDirection]
    private let output = FloatBuffer()
    private let directionGradients = [FloatBuffer(), FloatBuffer()]
    private let inputGradient = FloatBuffer()
    private var steps = 0
    private var batch = 0

    init(spec: RecurrentSpec, inputSize: Int, parameters: ParameterSet, prefix: String) {
        self.spec = spec
        if spec.bidirectional {
            directions = [
                RecurrentDirection(spec: spec, inputSize: inputSize, reverse: false, parameters: parameters, prefix: prefix + "forward."),
                RecurrentDirection(spec: spec, inputSize: inputSize, reverse: true, parameters: parameters, prefix: prefix + "backward."),
            ]
        } else {
            directions = [RecurrentDirection(spec: spec, inputSize: inputSize, reverse: spec.goBackwards, parameters: parameters, prefix: prefix)]
        }
    }

    static func declareParameters(spec: RecurrentSpec, inputSize: Int, prefix: String, in parameters: ParameterSet) {
        if spec.bidirectional {
            RecurrentDirection.declareParameters(spec: spec, inputSize: inputSize, prefix: prefix + "forward.", in: parameters)
            RecurrentDirection.declareParameters(spec: spec, inputSize: inputSize, prefix: prefix + "backward.", in: parameters)
        } else {
            RecurrentDirection.declareParameters(spec: spec, inputSize: inputSize, prefix: prefix, in: parameters)
        }
    }

    func initialize(rng: inout SeededGenerator) {
        for d in directions { d.initialize(rng: &rng) }
    }

    /// Final states in Keras `return_state` order: `h` (and `c` for LSTM) per direction, forward first.
    func finalStates() -> [UnsafeMutablePointer<Float>] {
        directions.flatMap { d in d.cell == .lstm ? [d.lastOutput, d.lastCellState] : [d.lastOutput] }
    }

    func forward(_ x: Activations, steps: Int, batch: Int, training: Bool, rng: inout SeededGenerator) -> Activations {
        self.steps = steps
        self.batch = batch
        for d in directions { d.forward(x.pointer, steps: steps, batch: batch, training: training, rng: &rng) }
        let h = spec.units
        let rows = spec.returnSequences ? steps * batch : batch
        if directions.count == 1 {
            let d = directions[0]
            if !spec.returnSequences { return Activations(pointer: d.lastOutput, isSequence: false, channels: h) }
            if !d.reverse { return Activations(pointer: d.outputSequence, isSequence: true, channels: h) }
            let y = output.reserve(rows * h)
            flipTime(d.outputSequence, into: y, steps: steps, width: batch * h)
            return Activations(pointer: y, isSequence: true, channels: h)
        }
        let f = spec.returnSequences ? directions[0].outputSequence : directions[0].lastOutput
        let b = spec.returnSequences ? directions[1].outputSequence : directions[1].lastOutput
        let c = spec.outputChannels
        let y = output.reserve(rows * c)
        for r in 0..<rows {
            let fr = f + r * h
            let br = b + r * h
            let yr = y + r * c
            switch spec.mergeMode {
            case .concat:
                yr.update(from: fr, count: h)
                (yr + h).update(from: br, count: h)
            case .sum: for j in 0..<h { yr[j] = fr[j] + br[j] }
            case .ave: for j in 0..<h { yr[j] = (fr[j] + br[j]) * 0.5 }
            case .mul: for j in 0..<h { yr[j] = fr[j] * br[j] }
            }
        }
        return Activations(pointer: y, isSequence: spec.returnSequences, channels: c)
    }

    func backward(_ dy: UnsafeMutablePointer<Float>, needInputGradient: Bool) -> UnsafeMutablePointer<Float>? {
        let h = spec.units
        let rows = spec.returnSequences ? steps * batch : batch
        func run(_ d: RecurrentDirection, _ g: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float>? {
            spec.returnSequences
                ? d.backward(dSequence: g, dLast: nil, needInputGradient: needInputGradient)
                : d.backward(dSequence: nil, dLast: g, needInputGradient: needInputGradient)
        }
        if directions.count == 1 {
            let d = directions[0]
            guard spec.returnSequences && d.reverse else { return run(d, dy) }
            let g = directionGradients[0].reserve(rows * h)
            flipTime(dy, into: g, steps: steps, width: batch * h)
            return run(d, g)
        }
        let c = spec.outputChannels
        let gf = directionGradients[0].reserve(rows * h)
        let gb = directionGradients[1].reserve(rows * h)
        let f = spec.returnSequences ? directions[0].outputSequence : directions[0].lastOutput
        let b = spec.returnSequences ? directions[1].outputSequence : directions[1].lastOutput
        for r in 0..<rows {
            let dr = dy + r * c
            let fr = gf + r * h
            let br = gb + r * h
            switch spec.mergeMode {
            case .concat:
                fr.update(from: dr, count: h)
                br.update(from: dr + h, count: h)
            case .sum:
                fr.update(from: dr, count: h)
                br.update(from: dr, count: h)
            case .ave:
                for j in 0..<h {
                    fr[j] = dr[j] * 0.5
                    br[j] = dr[j] * 0.5
                }
            case .mul:
                for j in 0..<h {
                    fr[j] = dr[j] * b[r * h + j]
                    br[j] = dr[j] * f[r * h + j]
                }
            }
        }
        let dxf = run(directions[0], gf)
        let dxb = run(directions[1], gb)
        guard needInputGradient, let dxf, let dxb else { return nil }
        let n = steps * batch * directions[0].inputSize
        let dx = inputGradient.reserve(n)
        for i in 0..<n { dx[i] = dxf[i] + dxb[i] }
        return dx
    }
}

/// `out[s] = x[T−1−s]` for `T` slabs of `width` floats.
func flipTime(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, steps: Int, width: Int) {
    for s in 0..<steps { (out + s * width).update(from: x + (steps - 1 - s) * width, count: width) }
}
