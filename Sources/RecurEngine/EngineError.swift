/// Errors the engine reports for bad input: specs, checkpoints, arrays and shapes.
///
/// Each description is one line that names the problem and, where it can, the fix.
public enum EngineError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A model spec field is missing, unknown or out of range. `path` is like `layers[1].units`.
    case invalidSpec(path: String, message: String)
    /// A safetensors checkpoint could not be read.
    case invalidCheckpoint(String)
    /// A NumPy `.npy` array could not be read or has the wrong dtype or shape.
    case invalidArray(String)
    /// Data does not fit the model (wrong feature count, batch of zero rows…).
    case shapeMismatch(String)
    /// Training produced NaN or Inf.
    case nonFinite(String)

    public var description: String {
        switch self {
        case .invalidSpec(let path, let message): return path.isEmpty ? "model spec: \(message)" : "model spec \(path): \(message)"
        case .invalidCheckpoint(let message): return "checkpoint: \(message)"
        case .invalidArray(let message): return "array: \(message)"
        case .shapeMismatch(let message): return "shape mismatch: \(message)"
        case .nonFinite(let message): return "non-finite value: \(message)"
        }
    }
}
