/// One direction of a recurrent layer run over a whole sequence, with the tape its backward
/// pass needs.
///
/// Shapes: `B` batch, `T` timesteps, `F` input features, `H` hidden units, `G` fused gates.
/// All sequence buffers are time-major and indexed by **chronological** time `t`, whichever
/// way the direction runs:
/// - `z`      `[T, B, G·H]`  the activated gates (the tape; SimpleRNN keeps none, its backward
///   needs only the outputs);
/// - `states` `[T+1, B, H]`  hidden states; forward: slot `t+1` is the state after `x_t`,
///   slot 0 the initial zeros; reverse: slot `t` is the state after `x_t`, slot `T` the zeros;
/// - `delta`  `[B, G·H]`     gate pre-activation gradients of the step the backward loop is at;
///   they feed that step's weight, bias and input gradients while still in cache.
///
/// Every product is a small per-step GEMM (projection `x_t·K`, recurrent `h·U`, `Δ_t·Uᵀ`, and the
/// weight gradients `h_{t−1}ᵀΔ_t`, `x_tᵀΔ_t`, `Δ_t·Kᵀ`): OpenBLAS runs those unpacked on cache-hot
/// data, which measured faster here than one GEMM over all `T·B` rows (docs/performance.md §1).
final class RecurrentDirection {
    let cell: CellKind
    let inputSize: Int
    let hiddenSize: Int
    let reverse: Bool
    let dropout: Float
    let recurrentDropout: Float
    let resetAfter: Bool
    let gates: Int

    /// `[F, G·H]`, `[H, G·H]`, `[G·H]` (or `[2, 3H]` for GRU with reset_after) and their gradients.
    let kernel: UnsafeMutablePointer<Float>
    let recurrentKernel: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>
    let dKernel: UnsafeMutablePointer<Float>
    let dRecurrentKernel: UnsafeMutablePointer<Float>
    let dBias: UnsafeMutablePointer<Float>

    let z = FloatBuffer()
    let states = FloatBuffer()
    /// LSTM: cell states `[T+1, B, H]` (slots as `states`). The backward pass recomputes
    /// `tanh(c_t)` rather than reading a stored copy.
    let cells = FloatBuffer()
    /// GRU: `q = h·U_h + b^h_h` (reset_after) or `r ⊙ h̃` (reset_before), `[T, B, H]`.
    let aux = FloatBuffer()
    /// The current step's gate pre-activations without biases, `[B, G·H]`: `x_t·K` plus the
    /// recurrent product (GRU reset_after: `x_t·K` only). The GEMMs fill this slab, which stays in
    /// cache from step to step, and the gate kernels write the activated gates to the tape `z`, so
    /// the tape's fresh lines are filled by stores spread among the kernels' arithmetic rather
    /// than by a GEMM's dense stores (LSTM +2–16 %). A fused step (`fusesSteps`) has no slab.
    let preactivation = FloatBuffer()
    /// GRU reset_after: the per-step recurrent product `[B, 3H]`, and the input bias with the
    /// recurrent z and r biases folded in `[3H]`.
    let recurrentSlab = FloatBuffer()
    let foldedBias = FloatBuffer()
    let delta = FloatBuffer()
    /// GRU reset_after: recurrent-side gate gradients `[δz δr δq]` of the current step, `[B, 3H]`.
    let deltaRecurrent = FloatBuffer()
    /// Dropout masks `[count, B, F]` / `[count, B, H]`, and the masked inputs `[count, T, B, F]`.
    let inputMasks = FloatBuffer()
    let recurrentMasks = FloatBuffer()
    let maskedInput = FloatBuffer()
    /// Scratch: masked states `[G, B, H]` for one step; per-gate input-gradient terms `[B, F]`.
    let maskedState = FloatBuffer()
    let stateGradient = FloatBuffer()
    let stateGradientNext = FloatBuffer()
    let cellGradient = FloatBuffer()
    let scratch = FloatBuffer()
    let scratchInput = FloatBuffer()
    /// `∂L/∂x`, `[T, B, F]`.
    let inputGradient = FloatBuffer()
    /// `Uᵀ` `[G·H, H]` and `Kᵀ` `[G·H, F]`, refreshed at the start of each backward pass, so
    /// `Δ·Uᵀ` and `Δ·Kᵀ` run as plain products that OpenBLAS's small-matrix kernels take without
    /// packing (its transposed-B path for these shapes packs both operands every call).
    let recurrentKernelT = FloatBuffer()
    let kernelT = FloatBuffer()

    private(set) var batch = 0
    private(set) var steps = 0
    /// Whether the last forward pass ran fused steps (`fusesSteps`): what the engine's tests and
    /// `recur bench engine` report.
    private(set) var lastForwardFused = false
    /// Whether the current (or last) pass runs its gate passes in C (`runsGatePassesInC`).
    private(set) var gatePassesInC = false
    /// Whether the last forward pass, and the last backward pass, ran their gates in C: set where
    /// the C kernels are called (fused steps included), so the engine's tests see what ran.
    var lastForwardGatesInC = false
    var lastBackwardGatesInC = false
    private(set) var inputMaskCount = 0
    private(set) var recurrentMaskCount = 0
    private var input: UnsafePointer<Float>?

    init(
        spec: RecurrentSpec,
        inputSize: Int,
        reverse: Bool,
        parameters: ParameterSet,
        prefix: String
    ) {
        cell = spec.cell
        self.inputSize = inputSize
        hiddenSize = spec.units
        self.reverse = reverse
        dropout = Float(spec.dropout)
        recurrentDropout = Float(spec.recurrentDropout)
        resetAfter = spec.cell == .gru && spec.resetAfter
        gates = spec.cell.gateCount
        func offset(_ name: String) -> Int {
            guard let slot = parameters.slot(named: prefix + name) else { preconditionFailure("undeclared parameter \(prefix)\(name)") }
            return slot.offset
        }
        let k = offset("kernel")
        let u = offset("recurrent_kernel")
        let b = offset("bias")
        kernel = parameters.value(at: k)
        recurrentKernel = parameters.value(at: u)
        bias = parameters.value(at: b)
        dKernel = parameters.gradient(at: k)
        dRecurrentKernel = parameters.gradient(at: u)
        dBias = parameters.gradient(at: b)
    }

    /// Declares `kernel [F, G·H]`, `recurrent_kernel [H, G·H]` and `bias` under `prefix`.
    static func declareParameters(spec: RecurrentSpec, inputSize: Int, prefix: String, in parameters: ParameterSet) {
        let gh = spec.cell.gateCount * spec.units
        _ = parameters.declare("\(prefix)kernel", shape: [inputSize, gh])
        _ = parameters.declare("\(prefix)recurrent_kernel", shape: [spec.units, gh])
        _ = parameters.declare("\(prefix)bias", shape: spec.cell == .gru && spec.resetAfter ? [2, gh] : [gh])
    }

    /// Keras defaults: glorot_uniform kernel, orthogonal recurrent kernel, zero bias (LSTM: +1 on f).
    func initialize(rng: inout SeededGenerator) {
        let gh = gates * hiddenSize
        Initializer.glorotUniform(kernel, fanIn: inputSize, fanOut: gh, rng: &rng)
        Initializer.orthogonal(recurrentKernel, rows: hiddenSize, cols: gh, rng: &rng)
        bias.update(repeating: 0, count: resetAfter ? 2 * gh : gh)
        if cell == .lstm { (bias + hiddenSize).update(repeating: 1, count: hiddenSize) }
    }

    var gateWidth: Int { gates * hiddenSize }
    /// Slot of the state before time `t` and of the output at time `t`.
    @inline(__always) func previousSlot(_ t: Int) -> Int { reverse ? t + 1 : t }
    @inline(__always) func outputSlot(_ t: Int) -> Int { reverse ? t : t + 1 }
    @inline(__always) func state(_ slot: Int) -> UnsafeMutablePointer<Float> { states.pointer + slot * batch * hiddenSize }

    /// Outputs in chronological order, `[T, B, H]`.
    var outputSequence: UnsafeMutablePointer<Float> { state(reverse ? 0 : 1) }
    /// The output of the last processed step, `[B, H]` (after `x_{T−1}`, or after `x_0` in reverse).
    var lastOutput: UnsafeMutablePointer<Float> { state(reverse ? 0 : steps) }
    /// LSTM: the cell state after the last processed step, `[B, H]`.
    var lastCellState: UnsafeMutablePointer<Float> { cells.pointer + (reverse ? 0 : steps) * batch * hiddenSize }

    // MARK: - Forward

    /// Runs the direction over `x` `[T, B, F]` (time-major) and keeps the tape.
    func forward(_ x: UnsafePointer<Float>, steps: Int, batch: Int, training: Bool, rng: inout SeededGenerator) {
        self.steps = steps
        self.batch = batch
        input = x
        let h = hiddenSize
        let gh = gateWidth
        let rows = steps * batch
        sampleMasks(training: training, rng: &rng)
        let fused = fusesSteps()
        lastForwardFused = fused
        gatePassesInC = runsGatePassesInC()
        lastForwardGatesInC = false

        if cell != .simpleRNN { z.reserve(rows * gh) }
        if !fused { preactivation.reserve(batch * gh) }
        prepareMaskedInput(x)
        if resetAfter {
            let folded = foldedBias.reserve(gh)
            for j in 0..<gh { folded[j] = bias[j] + (j < 2 * hiddenSize ? bias[gh + j] : 0) }
        }

        states.reserve((steps + 1) * batch * h)
        state(previousSlot(reverse ? steps - 1 : 0)).update(repeating: 0, count: batch * h)
        if cell == .lstm {
            cells.reserve((steps + 1) * batch * h)
            (cells.pointer + previousSlot(reverse ? steps - 1 : 0) * batch * h).update(repeating: 0, count: batch * h)
        }
        if cell == .gru {
            aux.reserve(rows * h)
            if resetAfter && !fused { recurrentSlab.reserve(batch * gh) }
        }
        if recurrentMaskCount > 0 { maskedState.reserve(gates * batch * h) }

        for s in 0..<steps {
            let t = reverse ? steps - 1 - s : s
            if fused {
                fusedForward(t)
                continue
            }
            if cell == .gru { projectInput(step: t) } else { projectInputAndState(step: t) }
            switch cell {
            case .simpleRNN: simpleRNNForward(t)
            case .lstm: lstmForward(t)
            case .gru: resetAfter ? gruForward(t) : gruResetBeforeForward(t)
            }
        }
    }

    private func sampleMasks(training: Bool, rng: inout SeededGenerator) {
        inputMaskCount = training && dropout > 0 ? (cell != .simpleRNN && recurrentDropout > 0 ? gates : 1) : 0
        recurrentMaskCount = training && recurrentDropout > 0 ? (cell == .simpleRNN ? 1 : gates) : 0
        fillDropoutMask(inputMasks.reserve(inputMaskCount * batch * inputSize), count: inputMaskCount * batch * inputSize, rate: dropout, rng: &rng)
        fillDropoutMask(
            recurrentMasks.reserve(recurrentMaskCount * batch * hiddenSize),
            count: recurrentMaskCount * batch * hiddenSize,
            rate: recurrentDropout,
            rng: &rng
        )
    }

    /// The step-`t` input each gate sees, `[B, F]`: `x_t`, or `x_t ⊙ d_k` when input dropout is on.
    func stepInput(_ t: Int, gate k: Int) -> UnsafePointer<Float> {
        let offset = t * batch * inputSize
        if inputMaskCount == 0 { return input! + offset }
        return UnsafePointer(maskedInput.pointer + (inputMaskCount == 1 ? 0 : k) * steps * batch * inputSize + offset)
    }

    /// `x ⊙ d_k` for every step, `[count, T, B, F]`, when input dropout is on.
    private func prepareMaskedInput(_ x: UnsafePointer<Float>) {
        guard inputMaskCount > 0 else { return }
        let rows = steps * batch
        let f = inputSize
        let masked = maskedInput.reserve(inputMaskCount * rows * f)
        for m in 0..<inputMaskCount {
            applyBatchMask(x, mask: inputMasks.pointer + m * batch * f, into: masked + m * rows * f, steps: steps, batch: batch, width: f)
        }
    }

    /// `preactivation = x_t·K` (per gate block when each gate has its own input mask). One small
    /// GEMM per step runs unpacked on cache-hot data; a single `[T·B, F]` GEMM measured slower here.
    private func projectInput(step t: Int) {
        let f = inputSize
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let pre = preactivation.pointer
        if inputMaskCount <= 1 {
            gemm(m: b, n: gh, k: f, a: stepInput(t, gate: 0), lda: f, b: kernel, ldb: gh, beta: 0, c: pre, ldc: gh)
        } else {
            for k in 0..<gates {
                gemm(m: b, n: h, k: f, a: stepInput(t, gate: k), lda: f, b: kernel + k * h, ldb: gh, beta: 0, c: pre + k * h, ldc: gh)
            }
        }
    }

    /// `preactivation = x_t·K + h_{t−1}·U` for SimpleRNN and LSTM, which add the recurrent product
    /// to every gate: one product of two terms, so the slab is written once (LSTM F = 14: `x_t·K`
    /// alone ran at half the kernel's speed, and its result was read back to add `h·U`). With
    /// per-gate dropout masks, one such product per gate: `(x_t ⊙ d_k)·K_k + (h ⊙ m_k)·U_k`.
    private func projectInputAndState(step t: Int) {
        let h = hiddenSize
        let gh = gateWidth
        let hPrev = UnsafePointer(state(previousSlot(t)))
        if inputMaskCount <= 1 && recurrentMaskCount == 0 {
            gemmSum(
                m: batch,
                n: gh,
                k1: inputSize,
                a1: stepInput(t, gate: 0),
                lda1: inputSize,
                b1: kernel,
                ldb1: gh,
                k2: h,
                a2: hPrev,
                lda2: h,
                b2: recurrentKernel,
                ldb2: gh,
                c: preactivation.pointer,
                ldc: gh
            )
            return
        }
        for k in 0..<gates {
            gemmSum(
                m: batch,
                n: h,
                k1: inputSize,
                a1: stepInput(t, gate: k),
                lda1: inputSize,
                b1: kernel + k * h,
                ldb1: gh,
                k2: h,
                a2: recurrentMaskCount == 0 ? hPrev : maskedStateForGate(hPrev, gate: k),
                lda2: h,
                b2: recurrentKernel + k * h,
                ldb2: gh,
                c: preactivation.pointer + k * h,
                ldc: gh
            )
        }
    }

    /// `out[:, gates] = β·out + (h ⊙ m_k)·U_k` for the gate blocks in `gateRange`; `out` rows have stride `ldo`.
    func addRecurrentProduct(
        _ hPrev: UnsafePointer<Float>,
        gates gateRange: Range<Int>,
        into out: UnsafeMutablePointer<Float>,
        ldo: Int,
        beta: Float = 1
    ) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        if recurrentMaskCount == 0 {
            let c0 = gateRange.lowerBound * h
            gemm(m: b, n: gateRange.count * h, k: h, a: hPrev, lda: h, b: recurrentKernel + c0, ldb: gh, beta: beta, c: out + c0, ldc: ldo)
            return
        }
        for k in gateRange {
            let hm = maskedStateForGate(hPrev, gate: k)
            gemm(m: b, n: h, k: h, a: hm, lda: h, b: recurrentKernel + k * h, ldb: gh, beta: beta, c: out + k * h, ldc: ldo)
        }
    }

    /// `h ⊙ m_k` for one step, in scratch.
    func maskedStateForGate(_ hPrev: UnsafePointer<Float>, gate k: Int) -> UnsafePointer<Float> {
        let count = batch * hiddenSize
        let out = maskedState.pointer + k * count
        let mask = recurrentMask(gate: k)
        for i in 0..<count { out[i] = hPrev[i] * mask[i] }
        return UnsafePointer(out)
    }

    @inline(__always) func recurrentMask(gate k: Int) -> UnsafePointer<Float> {
        UnsafePointer(recurrentMasks.pointer + (recurrentMaskCount == 1 ? 0 : k) * batch * hiddenSize)
    }

    // MARK: - Backward

    /// Backpropagates through time. `dSequence` `[T, B, H]` (chronological) and/or `dLast` `[B, H]`
    /// are gradients of the outputs; weight gradients are accumulated; returns `∂L/∂x` `[T, B, F]`
    /// when `needInputGradient`.
    @discardableResult
    func backward(
        dSequence: UnsafePointer<Float>?,
        dLast: UnsafePointer<Float>?,
        needInputGradient: Bool
    ) -> UnsafeMutablePointer<Float>? {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let rows = steps * batch
        var dh = stateGradient.reserve(b * h)
        var dhPrev = stateGradientNext.reserve(b * h)
        if let dLast { dh.update(from: dLast, count: b * h) } else { dh.update(repeating: 0, count: b * h) }
        if cell == .lstm { cellGradient.zeroed(b * h) }
        gatePassesInC = runsGatePassesInC()
        lastBackwardGatesInC = false
        delta.reserve(b * gh)
        if resetAfter { deltaRecurrent.reserve(b * gh) }
        transpose(recurrentKernel, rows: h, columns: gh, into: recurrentKernelT.reserve(gh * h))
        if needInputGradient { transpose(kernel, rows: inputSize, columns: gh, into: kernelT.reserve(gh * inputSize)) }
        scratch.reserve(2 * b * h)
        if needInputGradient {
            inputGradient.reserve(rows * inputSize)
            if inputMaskCount > 1 { scratchInput.reserve(b * inputSize) }
        }

        for s in stride(from: steps - 1, through: 0, by: -1) {
            let t = reverse ? steps - 1 - s : s
            if let dSequence {
                let ds = dSequence + t * b * h
                for i in 0..<(b * h) { dh[i] += ds[i] }
            }
            switch cell {
            case .simpleRNN: simpleRNNBackward(t, dh: dh, dhPrev: dhPrev)
            case .lstm: lstmBackward(t, dh: dh, dhPrev: dhPrev)
            case .gru: resetAfter ? gruBackward(t, dh: dh, dhPrev: dhPrev) : gruResetBeforeBackward(t, dh: dh, dhPrev: dhPrev)
            }
            accumulateStepWeightGradients(t)
            if needInputGradient { inputGradient(step: t) }
            swap(&dh, &dhPrev)
        }
        return needInputGradient ? inputGradient.pointer : nil
    }

    /// `dhPrev (+)= Σ_k (Δ_k·U_kᵀ) ⊙ m_k` over `gateRange`; `deltaRow` rows have stride `G·H`.
    func backpropagateRecurrent(
        _ deltaRow: UnsafePointer<Float>,
        gates gateRange: Range<Int>,
        into dhPrev: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        if recurrentMaskCount == 0 {
            let c0 = gateRange.lowerBound * h
            gemm(
                m: b,
                n: h,
                k: gateRange.count * h,
                a: deltaRow + c0,
                lda: gh,
                b: recurrentKernelT.pointer + c0 * h,
                ldb: h,
                beta: accumulate ? 1 : 0,
                c: dhPrev,
                ldc: h
            )
            return
        }
        if !accumulate { dhPrev.update(repeating: 0, count: b * h) }
        let tmp = scratch.pointer
        for k in gateRange {
            gemm(m: b, n: h, k: h, a: deltaRow + k * h, lda: gh, b: recurrentKernelT.pointer + k * h * h, ldb: h, beta: 0, c: tmp, ldc: h)
            let mask = recurrentMask(gate: k)
            for i in 0..<(b * h) { dhPrev[i] += tmp[i] * mask[i] }
        }
    }

    /// `dU += (h_{t−1} ⊙ m_k)ᵀ Δ_t`, `dK += (x_t ⊙ d_k)ᵀ Δ_t` and `db += Σ_rows Δ_t` for one step:
    /// small GEMMs and sums on data still in cache (one GEMM over all `T·B` rows would pack the
    /// whole `Δ` first). GRU reset_before uses `r ⊙ h̃` for the candidate block; GRU reset_after
    /// takes the recurrent bias row from the recurrent-side Δ.
    private func accumulateStepWeightGradients(_ t: Int) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let f = inputSize
        let hPrev = UnsafePointer(state(previousSlot(t)))
        let inputDelta = UnsafePointer(delta.pointer)
        let recurrentDelta = resetAfter ? UnsafePointer(deltaRecurrent.pointer) : inputDelta
        let stateGates = cell == .gru && !resetAfter ? 0..<2 : 0..<gates
        if recurrentMaskCount == 0 {
            gemm(
                transA: true,
                m: h,
                n: stateGates.count * h,
                k: b,
                a: hPrev,
                lda: h,
                b: recurrentDelta,
                ldb: gh,
                beta: 1,
                c: dRecurrentKernel,
                ldc: gh
            )
        } else {
            for k in stateGates {
                gemm(
                    transA: true,
                    m: h,
                    n: h,
                    k: b,
                    a: maskedStateForGate(hPrev, gate: k),
                    lda: h,
                    b: recurrentDelta + k * h,
                    ldb: gh,
                    beta: 1,
                    c: dRecurrentKernel + k * h,
                    ldc: gh
                )
            }
        }
        if cell == .gru && !resetAfter {
            gemm(
                transA: true,
                m: h,
                n: h,
                k: b,
                a: aux.pointer + t * b * h,
                lda: h,
                b: inputDelta + 2 * h,
                ldb: gh,
                beta: 1,
                c: dRecurrentKernel + 2 * h,
                ldc: gh
            )
        }
        if inputMaskCount <= 1 {
            gemm(transA: true, m: f, n: gh, k: b, a: stepInput(t, gate: 0), lda: f, b: inputDelta, ldb: gh, beta: 1, c: dKernel, ldc: gh)
        } else {
            for k in 0..<gates {
                gemm(
                    transA: true,
                    m: f,
                    n: h,
                    k: b,
                    a: stepInput(t, gate: k),
                    lda: f,
                    b: inputDelta + k * h,
                    ldb: gh,
                    beta: 1,
                    c: dKernel + k * h,
                    ldc: gh
                )
            }
        }
        addColumnSums(inputDelta, rows: b, columns: gh, into: dBias)
        if resetAfter { addColumnSums(recurrentDelta, rows: b, columns: gh, into: dBias + gh) }
    }

    /// `∂L/∂x_t = Σ_k (Δ_k·K_kᵀ) ⊙ d_k` for one step.
    private func inputGradient(step t: Int) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let f = inputSize
        let dt = delta.pointer
        let dx = inputGradient.pointer + t * b * f
        if inputMaskCount <= 1 {
            gemm(m: b, n: f, k: gh, a: dt, lda: gh, b: kernelT.pointer, ldb: f, beta: 0, c: dx, ldc: f)
            if inputMaskCount == 1 {
                let mask = inputMasks.pointer
                for i in 0..<(b * f) { dx[i] *= mask[i] }
            }
            return
        }
        dx.update(repeating: 0, count: b * f)
        let tmp = scratchInput.pointer
        for k in 0..<gates {
            gemm(m: b, n: f, k: h, a: dt + k * h, lda: gh, b: kernelT.pointer + k * h * f, ldb: f, beta: 0, c: tmp, ldc: f)
            let mask = inputMasks.pointer + k * b * f
            for i in 0..<(b * f) { dx[i] += tmp[i] * mask[i] }
        }
    }
}

// MARK: - Mask helpers

/// `out[c, r] = a[r, c]` for a row-major `[rows, columns]` matrix.
func transpose(_ a: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        for c in 0..<columns { out[c * rows + r] = a[r * columns + c] }
    }
}

/// Inverted-dropout mask: 0 with probability `rate`, else `1 / (1 − rate)`.
func fillDropoutMask(_ p: UnsafeMutablePointer<Float>, count: Int, rate: Float, rng: inout SeededGenerator) {
    let keep = 1 / (1 - rate)
    for i in 0..<count { p[i] = rng.nextUnitFloat() >= rate ? keep : 0 }
}

/// `out[t, b, :] = x[t, b, :] ⊙ mask[b, :]` for a per-sample mask fixed across time.
func applyBatchMask(_ x: UnsafePointer<Float>, mask: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, steps: Int, batch: Int, width: Int)
{
    for t in 0..<steps {
        for b in 0..<batch {
            let row = (t * batch + b) * width
            let m = mask + b * width
            for j in 0..<width { out[row + j] = x[row + j] * m[j] }
        }
    }
}
