import CRecurKernels

/// Per-timestep cell kernels, forward and backward side by side (Keras 3 formulas; see
/// engine-semantics §1.1–1.3 and §1.9). Each forward step starts from the pre-activation slab
/// (SimpleRNN and LSTM: `x_t·K + h_{t−1}·U`, made in one product by the caller; GRU: `x_t·K`, to
/// which the step adds its recurrent products), then makes one fused pass over it that writes the
/// activated gates to the tape `z`; each backward step writes the gate
/// gradients `Δ_t` and `∂L/∂h_{t−1}`. Derivatives use stored activations only. On AVX-512 the
/// LSTM and GRU forward steps usually run fused, and their other gate passes in C, instead
/// (`RecurrentDirection+StepKernels.swift`), with the same bits as these.
///
/// Each kernel body is a local `@inline(__always)` function `lanes(j, w)` that an explicit loop
/// calls with the constant width `vectorWidth` for full vectors, so their loads and stores compile
/// to plain vector moves. Passed to a shared loop helper as a closure, the LSTM backward body was
/// outlined and called per vector with `w` as a run-time argument.
extension RecurrentDirection {
    // MARK: SimpleRNN: h_t = tanh(x_t K + b + h_{t−1} U)

    func simpleRNNForward(_ t: Int) {
        let pre = preactivation.pointer
        let out = state(outputSlot(t))
        let h = hiddenSize
        for r in 0..<batch {
            let row = pre + r * h
            let o = out + r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                vstore(vtanh(vload(row + j, w) + vload(bias + j, w)), o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
    }

    func simpleRNNBackward(_ t: Int, dh: UnsafeMutablePointer<Float>, dhPrev: UnsafeMutablePointer<Float>) {
        let n = batch * hiddenSize
        let out = state(outputSlot(t))
        let d = delta.pointer
        @inline(__always) func lanes(_ i: Int, _ w: Int) {
            let hv = vload(out + i, w)
            vstore(vload(dh + i, w) * (1 - hv * hv), d + i, w)
        }
        var i = 0
        while i + vectorWidth <= n {
            lanes(i, vectorWidth)
            i += vectorWidth
        }
        if i < n { lanes(i, n - i) }
        backpropagateRecurrent(d, gates: 0..<1, into: dhPrev, accumulate: false)
    }

    // MARK: LSTM: gates i f c o; c_t = f⊙c_{t−1} + i⊙g; h_t = o⊙tanh(c_t)

    func lstmForward(_ t: Int) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let zt = z.pointer + t * b * gh
        let pre = preactivation.pointer
        let cPrev = cells.pointer + previousSlot(t) * b * h
        let cOut = cells.pointer + outputSlot(t) * b * h
        let hOut = state(outputSlot(t))
        if gatePassesInC {
            recur_lstm_gates_avx512(Int32(b), Int32(h), pre, bias, cPrev, zt, cOut, hOut)
            lastForwardGatesInC = true
            return
        }
        for r in 0..<b {
            let row = zt + r * gh
            let x = pre + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let (pi, qi) = vsigmoidFraction(vload(x + j, w) + vload(bias + j, w))
                let (pf, qf) = vsigmoidFraction(vload(x + h + j, w) + vload(bias + h + j, w))
                let (pg, qg) = vtanhFraction(vload(x + 2 * h + j, w) + vload(bias + 2 * h + j, w))
                let (po, qo) = vsigmoidFraction(vload(x + 3 * h + j, w) + vload(bias + 3 * h + j, w))
                let (ri, rf, rg, ro) = reciprocals(qi, qf, qg, qo)
                let ig = sigmoid(fromTanhFraction: pi, reciprocal: ri)
                let fg = sigmoid(fromTanhFraction: pf, reciprocal: rf)
                let gg = pg * rg
                let og = sigmoid(fromTanhFraction: po, reciprocal: ro)
                let c = (ig * gg).addingProduct(fg, vload(cPrev + o + j, w))
                let tc = vtanh(c)
                vstore(ig, row + j, w)
                vstore(fg, row + h + j, w)
                vstore(gg, row + 2 * h + j, w)
                vstore(og, row + 3 * h + j, w)
                vstore(c, cOut + o + j, w)
                vstore(og * tc, hOut + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
    }

    func lstmBackward(_ t: Int, dh: UnsafeMutablePointer<Float>, dhPrev: UnsafeMutablePointer<Float>) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let zt = z.pointer + t * b * gh
        let dt = delta.pointer
        let cPrev = cells.pointer + previousSlot(t) * b * h
        let cOut = cells.pointer + outputSlot(t) * b * h
        let dc = cellGradient.pointer
        if gatePassesInC {
            recur_lstm_backward_gates_avx512(Int32(b), Int32(h), zt, cPrev, cOut, dh, dc, dt)
            lastBackwardGatesInC = true
            backpropagateRecurrent(dt, gates: 0..<4, into: dhPrev, accumulate: false)
            return
        }
        for r in 0..<b {
            let row = zt + r * gh
            let drow = dt + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let ig = vload(row + j, w)
                let fg = vload(row + h + j, w)
                let gg = vload(row + 2 * h + j, w)
                let og = vload(row + 3 * h + j, w)
                let tc = vtanh(vload(cOut + o + j, w))
                let dhv = vload(dh + o + j, w)
                let dcv = vload(dc + o + j, w).addingProduct(dhv * og, 1 - tc * tc)
                vstore(dcv * gg * ig * (1 - ig), drow + j, w)
                vstore(dcv * vload(cPrev + o + j, w) * fg * (1 - fg), drow + h + j, w)
                vstore(dcv * ig * (1 - gg * gg), drow + 2 * h + j, w)
                vstore(dhv * tc * og * (1 - og), drow + 3 * h + j, w)
                vstore(dcv * fg, dc + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
        backpropagateRecurrent(dt, gates: 0..<4, into: dhPrev, accumulate: false)
    }

    // MARK: GRU, reset_after: ĥ = tanh(x K_h + b^x_h + r ⊙ (h U_h + b^h_h)); h_t = z⊙h_{t−1} + (1−z)⊙ĥ

    func gruForward(_ t: Int) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let zt = z.pointer + t * b * gh
        let pre = preactivation.pointer
        let slab = recurrentSlab.pointer
        let hPrev = state(previousSlot(t))
        addRecurrentProduct(hPrev, gates: 0..<3, into: slab, ldo: gh, beta: 0)
        let folded = foldedBias.pointer
        let recurrentBias = bias + gh
        let q = aux.pointer + t * b * h
        let hOut = state(outputSlot(t))
        if gatePassesInC {
            recur_gru_gates_avx512(Int32(b), Int32(h), pre, slab, folded, recurrentBias, hPrev, zt, q, hOut)
            lastForwardGatesInC = true
            return
        }
        for r in 0..<b {
            let row = zt + r * gh
            let x = pre + r * gh
            let rec = slab + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let (pz, qz) = vsigmoidFraction(vload(x + j, w) + vload(rec + j, w) + vload(folded + j, w))
                let (pr, qr) = vsigmoidFraction(vload(x + h + j, w) + vload(rec + h + j, w) + vload(folded + h + j, w))
                let (rz, rr) = reciprocals(qz, qr)
                let zg = sigmoid(fromTanhFraction: pz, reciprocal: rz)
                let rg = sigmoid(fromTanhFraction: pr, reciprocal: rr)
                let qv = vload(rec + 2 * h + j, w) + vload(recurrentBias + 2 * h + j, w)
                let hh = vtanh((vload(x + 2 * h + j, w) + vload(folded + 2 * h + j, w)).addingProduct(rg, qv))
                vstore(zg, row + j, w)
                vstore(rg, row + h + j, w)
                vstore(hh, row + 2 * h + j, w)
                vstore(qv, q + o + j, w)
                vstore(hh.addingProduct(zg, vload(hPrev + o + j, w) - hh), hOut + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
    }

    func gruBackward(_ t: Int, dh: UnsafeMutablePointer<Float>, dhPrev: UnsafeMutablePointer<Float>) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let zt = z.pointer + t * b * gh
        let dt = delta.pointer
        let drt = deltaRecurrent.pointer
        let q = aux.pointer + t * b * h
        let hPrev = state(previousSlot(t))
        if gatePassesInC {
            recur_gru_backward_gates_avx512(Int32(b), Int32(h), zt, hPrev, q, dh, dt, drt, dhPrev)
            lastBackwardGatesInC = true
            backpropagateRecurrent(drt, gates: 0..<3, into: dhPrev, accumulate: true)
            return
        }
        for r in 0..<b {
            let row = zt + r * gh
            let drow = dt + r * gh
            let rrow = drt + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let zg = vload(row + j, w)
                let rg = vload(row + h + j, w)
                let hh = vload(row + 2 * h + j, w)
                let dhv = vload(dh + o + j, w)
                let dhh = dhv * (1 - zg) * (1 - hh * hh)
                let dz = dhv * (vload(hPrev + o + j, w) - hh) * zg * (1 - zg)
                let dr = dhh * vload(q + o + j, w) * rg * (1 - rg)
                vstore(dz, drow + j, w)
                vstore(dr, drow + h + j, w)
                vstore(dhh, drow + 2 * h + j, w)
                vstore(dz, rrow + j, w)
                vstore(dr, rrow + h + j, w)
                vstore(dhh * rg, rrow + 2 * h + j, w)
                vstore(dhv * zg, dhPrev + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
        backpropagateRecurrent(drt, gates: 0..<3, into: dhPrev, accumulate: true)
    }

    // MARK: GRU, reset_before: ĥ = tanh(x K_h + b_h + (r ⊙ h_{t−1}) U_h)

    func gruResetBeforeForward(_ t: Int) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let zt = z.pointer + t * b * gh
        let pre = preactivation.pointer
        let hPrev = state(previousSlot(t))
        addRecurrentProduct(hPrev, gates: 0..<2, into: pre, ldo: gh)
        let rh = aux.pointer + t * b * h
        let mask: UnsafePointer<Float>? = recurrentMaskCount > 0 ? recurrentMask(gate: 2) : nil
        for r in 0..<b {
            let row = zt + r * gh
            let x = pre + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let (pz, qz) = vsigmoidFraction(vload(x + j, w) + vload(bias + j, w))
                let (pr, qr) = vsigmoidFraction(vload(x + h + j, w) + vload(bias + h + j, w))
                let (rz, rr) = reciprocals(qz, qr)
                let zg = sigmoid(fromTanhFraction: pz, reciprocal: rz)
                let rg = sigmoid(fromTanhFraction: pr, reciprocal: rr)
                var hp = vload(hPrev + o + j, w)
                if let mask { hp *= vload(mask + o + j, w) }
                vstore(zg, row + j, w)
                vstore(rg, row + h + j, w)
                vstore(rg * hp, rh + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
        gemm(m: b, n: h, k: h, a: rh, lda: h, b: recurrentKernel + 2 * h, ldb: gh, beta: 1, c: pre + 2 * h, ldc: gh)
        let hOut = state(outputSlot(t))
        for r in 0..<b {
            let row = zt + r * gh
            let x = pre + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let hh = vtanh(vload(x + 2 * h + j, w) + vload(bias + 2 * h + j, w))
                vstore(hh, row + 2 * h + j, w)
                vstore(hh.addingProduct(vload(row + j, w), vload(hPrev + o + j, w) - hh), hOut + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
    }

    func gruResetBeforeBackward(_ t: Int, dh: UnsafeMutablePointer<Float>, dhPrev: UnsafeMutablePointer<Float>) {
        let h = hiddenSize
        let gh = gateWidth
        let b = batch
        let zt = z.pointer + t * b * gh
        let dt = delta.pointer
        let hPrev = state(previousSlot(t))
        for r in 0..<b {
            let row = zt + r * gh
            let drow = dt + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let zg = vload(row + j, w)
                let hh = vload(row + 2 * h + j, w)
                let dhv = vload(dh + o + j, w)
                vstore(dhv * (vload(hPrev + o + j, w) - hh) * zg * (1 - zg), drow + j, w)
                vstore(dhv * (1 - zg) * (1 - hh * hh), drow + 2 * h + j, w)
                vstore(dhv * zg, dhPrev + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
        // s = δĥ·U_hᵀ is the gradient of r ⊙ h̃ (h̃ = h_{t−1} ⊙ m_h).
        let s = scratch.pointer + b * h
        gemm(m: b, n: h, k: h, a: dt + 2 * h, lda: gh, b: recurrentKernelT.pointer + 2 * h * h, ldb: h, beta: 0, c: s, ldc: h)
        let mask: UnsafePointer<Float>? = recurrentMaskCount > 0 ? recurrentMask(gate: 2) : nil
        for r in 0..<b {
            let row = zt + r * gh
            let drow = dt + r * gh
            let o = r * h
            @inline(__always) func lanes(_ j: Int, _ w: Int) {
                let rg = vload(row + h + j, w)
                let sv = vload(s + o + j, w)
                let m = mask.map { vload($0 + o + j, w) } ?? Vec(repeating: 1)
                vstore(sv * vload(hPrev + o + j, w) * m * rg * (1 - rg), drow + h + j, w)
                vstore(vload(dhPrev + o + j, w).addingProduct(sv * rg, m), dhPrev + o + j, w)
            }
            var j = 0
            while j + vectorWidth <= h {
                lanes(j, vectorWidth)
                j += vectorWidth
            }
            if j < h { lanes(j, h - j) }
        }
        backpropagateRecurrent(dt, gates: 0..<2, into: dhPrev, accumulate: true)
    }
}
