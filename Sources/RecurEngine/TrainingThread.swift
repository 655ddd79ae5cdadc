import CRecurSupport

/// Per-thread set-up for training: one BLAS thread and denormals flushed to zero.
///
/// Saturated gates push gradients into the denormal range, where x86 arithmetic is 10–100×
/// slower (a PyTorch SimpleRNN ran 3–5× slower here without this).
public enum TrainingThread {
    /// Call once on every thread that trains or runs inference.
    public static func prepare() {
        BLASInfo.useSingleThread()
        _ = recur_enable_flush_denormals()
    }

    /// Whether the calling thread flushes denormals to zero.
    public static var flushesDenormals: Bool { recur_flush_denormals_enabled() != 0 }
}
