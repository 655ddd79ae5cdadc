import CRecurKernels
import CRecurSupport

/// LSTM and GRU (reset_after) steps in C on AVX-512 (`Sources/CRecurKernels/recurrent_step.c`):
/// forward steps with the gates fused into the products, the `[B, G·H]` pre-activations never
/// stored, and the backward gate passes. They give the Swift path's bits, so whether a step runs
/// in C changes no result.
extension RecurrentDirection {
    /// Whether this build's gate pass divides exactly (`recur_reciprocal16`, evaluated in the
    /// engine's own target), as the fused kernels do; a native AVX-512 build uses `rcp14`.
    static let gatesDivideExactly = recur_reciprocal_is_exact() != 0

    /// Whether the coming pass runs its gate passes in C (forward, where the step does not fuse,
    /// and backward): LSTM or GRU (reset_after) on the AVX-512 kernels, in a build whose gate
    /// pass divides exactly. The Swift passes, compiled for the portable x86-64-v3 target, run
    /// each 16-lane vector as two AVX2 halves and spill LSTM's tanh to the stack; in 32 AVX-512
    /// registers they take about half the time. No products, so no crossover: masked and
    /// OpenBLAS-sized models run them too.
    func runsGatePassesInC() -> Bool {
        guard GemmPath.fusionEnabled, Self.gatesDivideExactly, recur_kernels_current() == Int32(RECUR_KERNELS_AVX512) else { return false }
        return cell == .lstm || (cell == .gru && resetAfter)
    }

    /// Whether the coming forward pass fuses its steps: where its gate passes run in C
    /// (`runsGatePassesInC`), with one product of `x_t` and `h` for all gates (no recurrent
    /// dropout: per-gate masked states ran slower fused), and where the unfused step's products
    /// would run on the AVX-512 kernels, so that fusing keeps their summation order. Read after
    /// `sampleMasks`.
    func fusesSteps() -> Bool {
        guard runsGatePassesInC(), inputMaskCount <= 1, recurrentMaskCount == 0 else { return false }
        let avx512 = Int32(RECUR_KERNELS_AVX512)
        let (b, h, f, gh) = (batch, hiddenSize, inputSize, gateWidth)
        // LSTM sums `x_t·K + h·U` in one product; GRU (reset_after) keeps the two apart.
        if cell == .lstm { return kernelLevel(m: b, n: gh, k: f + h) == avx512 }
        return kernelLevel(m: b, n: gh, k: f) == avx512 && kernelLevel(m: b, n: gh, k: h) == avx512
    }

    /// The fused forward step at `t`: `lstmForward(t)` or `gruForward(t)` with their products.
    func fusedForward(_ t: Int) {
        let (b, h, gh) = (batch, hiddenSize, gateWidth)
        let (bi, hi, fi) = (Int32(b), Int32(h), Int32(inputSize))
        let x = stepInput(t, gate: 0)
        let hPrev = state(previousSlot(t))
        lastForwardGatesInC = true
        if cell == .lstm {
            recur_lstm_step_avx512(
                bi,
                hi,
                fi,
                x,
                kernel,
                hPrev,
                recurrentKernel,
                bias,
                cells.pointer + previousSlot(t) * b * h,
                z.pointer + t * b * gh,
                cells.pointer + outputSlot(t) * b * h,
                state(outputSlot(t))
            )
        } else {
            recur_gru_step_avx512(
                bi,
                hi,
                fi,
                x,
                kernel,
                hPrev,
                recurrentKernel,
                foldedBias.pointer,
                bias + gh,
                z.pointer + t * b * gh,
                aux.pointer + t * b * h,
                state(outputSlot(t))
            )
        }
    }
}
