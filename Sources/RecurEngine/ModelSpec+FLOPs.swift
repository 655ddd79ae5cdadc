extension ModelSpec {
    /// GEMM FLOPs (2 per multiply-add) of one training step per sample: forward `2·G·H·(F+H)` and
    /// backward `2·G·H·(2H+F)` per step and direction, plus `2·G·H·F` where an input gradient is
    /// needed (engine-semantics §3.4). Pointwise work is not counted.
    public func trainingFLOPsPerSample(steps: Int) -> Double {
        var total = 0.0
        var channels = inputFeatures
        var first = true
        for layer in layers {
            switch layer {
            case .recurrent(let r):
                let g = Double(r.cell.gateCount)
                let h = Double(r.units)
                let f = Double(channels)
                var perStep = 2 * g * h * (f + h) + 2 * g * h * (2 * h + f)
                if !first { perStep += 2 * g * h * f }
                total += perStep * Double(steps) * (r.bidirectional ? 2 : 1)
                channels = r.outputChannels
                first = false
            case .dense(let units):
                total += 6 * Double(channels * units)
                channels = units
                first = false
            case .dropout: break
            }
        }
        return total
    }
}
