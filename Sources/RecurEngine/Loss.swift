/// Regression losses with Keras semantics: per element, averaged over every output element
/// of the batch (`sum_over_batch_size` with a `[B, 1]` head).
public enum Loss: Sendable, Equatable {
    case meanSquaredError
    case meanAbsoluteError
    /// Quadratic below `delta`, linear above. Keras default delta: 1.0.
    case huber(delta: Float)

    /// Parses `mse`, `mae` or `huber`.
    public init?(name: String) {
        switch name.lowercased() {
        case "mse", "mean_squared_error": self = .meanSquaredError
        case "mae", "mean_absolute_error": self = .meanAbsoluteError
        case "huber": self = .huber(delta: 1)
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .meanSquaredError: return "mse"
        case .meanAbsoluteError: return "mae"
        case .huber: return "huber"
        }
    }

    /// Adds the loss and absolute error of `count` predictions to the sums and writes
    /// `∂L/∂ŷ` for a batch mean over `normalizer` elements.
    func accumulate(
        predictions: UnsafePointer<Float>,
        targets: UnsafePointer<Float>,
        count: Int,
        normalizer: Int,
        gradient: UnsafeMutablePointer<Float>,
        lossSum: inout Double,
        absoluteErrorSum: inout Double
    ) {
        let scale = 1 / Float(normalizer)
        for i in 0..<count {
            let e = predictions[i] - targets[i]
            absoluteErrorSum += Double(abs(e))
            switch self {
            case .meanSquaredError:
                lossSum += Double(e * e)
                gradient[i] = 2 * e * scale
            case .meanAbsoluteError:
                lossSum += Double(abs(e))
                gradient[i] = (e > 0 ? 1 : e < 0 ? -1 : 0) * scale
            case .huber(let delta):
                if abs(e) <= delta {
                    lossSum += Double(0.5 * e * e)
                    gradient[i] = e * scale
                } else {
                    lossSum += Double(delta * (abs(e) - 0.5 * delta))
                    gradient[i] = (e > 0 ? delta : -delta) * scale
                }
            }
        }
    }
}
