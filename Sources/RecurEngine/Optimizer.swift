import Foundation

/// Optimizer settings with Keras 3 defaults and update rules.
public struct OptimizerConfig: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case rmsprop, adam, sgd }

    public var kind: Kind
    /// Default: 0.001 (RMSprop, Adam), 0.01 (SGD).
    public var learningRate: Float
    /// RMSprop discount. Default: 0.9.
    public var rho: Float = 0.9
    /// RMSprop or SGD momentum. Default: 0.
    public var momentum: Float = 0
    /// Default: 1e-7 (inside the square root for RMSprop, outside for Adam, as Keras).
    public var epsilon: Float = 1e-7
    /// RMSprop: normalise by the centred second moment. Default: false.
    public var centered: Bool = false
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var amsgrad: Bool = false
    public var nesterov: Bool = false
    /// Clip each gradient tensor to this L2 norm.
    public var clipnorm: Float?
    /// Clip all gradients together to this L2 norm.
    public var globalClipnorm: Float?

    public init(kind: Kind, learningRate: Float? = nil) {
        self.kind = kind
        self.learningRate = learningRate ?? (kind == .sgd ? 0.01 : 0.001)
    }

    enum CodingKeys: String, CodingKey {
        case kind = "name"
        case learningRate = "learning_rate"
        case rho, momentum, epsilon, centered
        case beta1 = "beta_1"
        case beta2 = "beta_2"
        case amsgrad, nesterov, clipnorm
        case globalClipnorm = "global_clipnorm"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? (kind == .sgd ? 0.01 : 0.001)
        rho = try c.decodeIfPresent(Float.self, forKey: .rho) ?? 0.9
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? 0
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? 1e-7
        centered = try c.decodeIfPresent(Bool.self, forKey: .centered) ?? false
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? 0.9
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? 0.999
        amsgrad = try c.decodeIfPresent(Bool.self, forKey: .amsgrad) ?? false
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? false
        clipnorm = try c.decodeIfPresent(Float.self, forKey: .clipnorm)
        globalClipnorm = try c.decodeIfPresent(Float.self, forKey: .globalClipnorm)
    }
}

/// Applies gradient clipping and one update per call to every parameter of a ``ParameterSet``.
///
/// RMSprop [1], Adam [2] (the "ε-hat" form Keras uses) and SGD with (Nesterov) momentum.
/// [1] Tieleman & Hinton, Lecture 6.5, COURSERA 2012. [2] Kingma & Ba, arXiv:1412.6980.
public final class Optimizer {
    public let config: OptimizerConfig
    /// Updates applied so far.
    public private(set) var iterations = 0
    private var first: [Float]
    private var second: [Float]
    private var third: [Float]

    public init(_ config: OptimizerConfig, parameterCount: Int) {
        self.config = config
        first = [Float](repeating: 0, count: parameterCount)
        second = [Float](repeating: 0, count: parameterCount)
        third = [Float](repeating: 0, count: config.amsgrad || config.centered ? parameterCount : 0)
    }

    /// Clips the gradients in place, then updates the values.
    public func step(_ parameters: ParameterSet) {
        precondition(parameters.count == first.count, "optimizer built for \(first.count) parameters, got \(parameters.count)")
        parameters.withBuffers { w, g in
            clip(parameters.slots, gradients: g)
            let n = parameters.count
            switch config.kind {
            case .rmsprop: rmsprop(w, g, n)
            case .adam: adam(w, g, n)
            case .sgd: sgd(w, g, n)
            }
        }
        iterations += 1
    }

    private func clip(_ slots: [ParameterSet.Slot], gradients g: UnsafeMutablePointer<Float>) {
        if let c = config.clipnorm, c > 0 {
            for slot in slots {
                let p = g + slot.offset
                var sum = 0.0
                for i in 0..<slot.count { sum += Double(p[i]) * Double(p[i]) }
                let norm = Float(sum.squareRoot())
                if norm > c { for i in 0..<slot.count { p[i] = p[i] * c / norm } }
            }
        } else if let c = config.globalClipnorm, c > 0 {
            let n = slots.last.map { $0.offset + $0.count } ?? 0
            var sum = 0.0
            for i in 0..<n { sum += Double(g[i]) * Double(g[i]) }
            let norm = Float(sum.squareRoot())
            let scale = c * min(1 / norm, 1 / c)
            for i in 0..<n { g[i] *= scale }
        }
    }

    private func rmsprop(_ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ n: Int) {
        let lr = config.learningRate
        let rho = config.rho
        let eps = config.epsilon
        let mu = config.momentum
        for i in 0..<n {
            let gi = g[i]
            second[i] = rho * second[i] + (1 - rho) * gi * gi
            var denominator = second[i] + eps
            if config.centered {
                third[i] = rho * third[i] + (1 - rho) * gi
                denominator = second[i] - third[i] * third[i] + eps
            }
            let increment = lr * gi / denominator.squareRoot()
            if mu > 0 {
                first[i] = mu * first[i] + increment
                w[i] -= first[i]
            } else {
                w[i] -= increment
            }
        }
    }

    private func adam(_ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ n: Int) {
        let t = Float(iterations + 1)
        let b1 = config.beta1
        let b2 = config.beta2
        let eps = config.epsilon
        let alpha = config.learningRate * (1 - pow(b2, t)).squareRoot() / (1 - pow(b1, t))
        for i in 0..<n {
            let gi = g[i]
            first[i] += (gi - first[i]) * (1 - b1)
            second[i] += (gi * gi - second[i]) * (1 - b2)
            var v = second[i]
            if config.amsgrad {
                third[i] = max(third[i], v)
                v = third[i]
            }
            w[i] -= first[i] * alpha / (v.squareRoot() + eps)
        }
    }

    private func sgd(_ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ n: Int) {
        let lr = config.learningRate
        let mu = config.momentum
        for i in 0..<n {
            if mu != 0 {
                first[i] = first[i] * mu - g[i] * lr
                w[i] += config.nesterov ? first[i] * mu - g[i] * lr : first[i]
            } else {
                w[i] -= g[i] * lr
            }
        }
    }
}
