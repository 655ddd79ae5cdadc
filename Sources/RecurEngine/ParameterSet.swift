/// Every trainable tensor of a model in one contiguous allocation, with a gradient buffer of the
/// same layout (the llm.c idea: zeroing gradients, optimizer steps and checkpoints are flat loops).
public final class ParameterSet {
    /// One named tensor: a Keras-shaped, row-major view into the flat buffers.
    public struct Slot: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public private(set) var slots: [Slot] = []
    /// Total number of scalars.
    public private(set) var count = 0
    let values = FloatBuffer()
    let gradients = FloatBuffer()
    private var sealed = false

    init() {}

    /// Declares a tensor and returns its offset; only before `seal()`.
    func declare(_ name: String, shape: [Int]) -> Int {
        precondition(!sealed, "parameters are sealed")
        let slot = Slot(name: name, shape: shape, offset: count)
        slots.append(slot)
        count += slot.count
        return slot.offset
    }

    /// Allocates the buffers; pointers into them stay valid for the life of the set.
    func seal() {
        sealed = true
        values.zeroed(count)
        gradients.zeroed(count)
    }

    func value(at offset: Int) -> UnsafeMutablePointer<Float> { values.pointer + offset }
    func gradient(at offset: Int) -> UnsafeMutablePointer<Float> { gradients.pointer + offset }

    func zeroGradients() { gradients.pointer.update(repeating: 0, count: count) }

    /// The slot named `name`, if any.
    public func slot(named name: String) -> Slot? { slots.first { $0.name == name } }

    /// A copy of one tensor's values.
    public func values(of slot: Slot) -> [Float] {
        Array(UnsafeBufferPointer(start: values.pointer + slot.offset, count: slot.count))
    }

    /// A copy of one tensor's gradient from the last backward pass.
    public func gradients(of slot: Slot) -> [Float] {
        Array(UnsafeBufferPointer(start: gradients.pointer + slot.offset, count: slot.count))
    }

    /// Overwrites one tensor.
    public func setValues(_ newValues: [Float], of slot: Slot) {
        precondition(newValues.count == slot.count, "\(slot.name): expected \(slot.count) values, got \(newValues.count)")
        newValues.withUnsafeBufferPointer { (values.pointer + slot.offset).update(from: $0.baseAddress!, count: slot.count) }
    }

    /// All values, flat, in slot order.
    public var flatValues: [Float] {
        get { Array(UnsafeBufferPointer(start: values.pointer, count: count)) }
        set {
            precondition(newValue.count == count)
            newValue.withUnsafeBufferPointer { values.pointer.update(from: $0.baseAddress!, count: count) }
        }
    }

    /// All gradients, flat, in slot order.
    public var flatGradients: [Float] { Array(UnsafeBufferPointer(start: gradients.pointer, count: count)) }

    /// Raw access for optimizers and tests: value and gradient pointers of the whole set.
    public func withBuffers<R>(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try body(values.pointer, gradients.pointer)
    }
}

/// Keras' default initializers, drawn from a seeded generator.
enum Initializer {
    /// `U(−L, L)` with `L = √(6 / (fanIn + fanOut))` on the whole fused matrix.
    static func glorotUniform(_ p: UnsafeMutablePointer<Float>, fanIn: Int, fanOut: Int, rng: inout SeededGenerator) {
        let limit = (6.0 / Double(fanIn + fanOut)).squareRoot()
        for i in 0..<(fanIn * fanOut) {
            p[i] = Float((2 * rng.nextUnitDouble() - 1) * limit)
        }
    }

    /// A `[rows, cols]` matrix with orthonormal rows (or columns when rows ≥ cols), as Keras'
    /// `Orthogonal`: QR of a normal `[max, min]` matrix with `sign(diag R)` folded into Q.
    static func orthogonal(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, rng: inout SeededGenerator) {
        let m = max(rows, cols)
        let n = min(rows, cols)
        var a = [Double](repeating: 0, count: m * n)  // column-major: column j at a[j*m ..< (j+1)*m]
        for i in 0..<(m * n) { a[i] = rng.nextNormal() }
        // Modified Gram–Schmidt gives Q with a positive diagonal in R, i.e. Q·sign(diag R).
        for j in 0..<n {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<m { dot += a[k * m + i] * a[j * m + i] }
                for i in 0..<m { a[j * m + i] -= dot * a[k * m + i] }
            }
            var norm = 0.0
            for i in 0..<m { norm += a[j * m + i] * a[j * m + i] }
            norm = norm.squareRoot()
            for i in 0..<m { a[j * m + i] /= norm }
        }
        // Q is [m, n]; the result is Q ([rows ≥ cols]) or Qᵀ ([rows < cols]).
        for r in 0..<rows {
            for c in 0..<cols {
                p[r * cols + c] = Float(rows >= cols ? a[c * m + r] : a[r * m + c])
            }
        }
    }
}
