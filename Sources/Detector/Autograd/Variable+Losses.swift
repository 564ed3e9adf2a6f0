import Foundation

/// Losses over logits, fused (one pass forward, one backward) because a dense head scores every location against
/// every concept: log σ and log(1 − σ) as −softplus(∓x), so no logit overflows.
extension Variable {
    /// Σ of torchvision's `sigmoid_focal_loss` over all elements: α_t (1 − p_t)^γ · BCE(x, t), targets 0 or 1.
    public func sigmoidFocalLoss(targets: Tensor, alpha: Float = 0.25, gamma: Float = 2) -> Variable {
        precondition(targets.count == value.count, "focal loss: \(targets.shape) targets for \(shape) logits")
        var total = 0.0
        var grad = [Float](repeating: 0, count: value.count)
        for i in value.data.indices {
            let x = value.data[i], positive = targets.data[i] > 0.5
            let p = 1 / (1 + expf(-x))
            let logP = -Self.softplus(-x), logQ = -Self.softplus(x)   // log p, log(1 − p)
            if positive {
                let w = powf(1 - p, gamma)
                total += Double(-alpha * w * logP)
                grad[i] = alpha * w * (gamma * p * logP - (1 - p))
            } else {
                let w = powf(p, gamma)
                total += Double(-(1 - alpha) * w * logQ)
                grad[i] = (1 - alpha) * w * (p - gamma * (1 - p) * logQ)
            }
        }
        return Variable(Tensor(shape: [1], data: [Float(total)]), parents: [self]) { [self] g in
            accumulate(Tensor(shape: shape, data: grad.map { $0 * g.data[0] }))
        }
    }

    /// Σ of `binary_cross_entropy_with_logits(x, t)`: softplus(x) − t·x.
    public func binaryCrossEntropyWithLogits(targets: Tensor) -> Variable {
        precondition(targets.count == value.count, "BCE: \(targets.shape) targets for \(shape) logits")
        var total = 0.0
        for i in value.data.indices { total += Double(Self.softplus(value.data[i]) - targets.data[i] * value.data[i]) }
        return Variable(Tensor(shape: [1], data: [Float(total)]), parents: [self]) { [self] g in
            accumulate(Tensor(shape: shape, data: value.data.indices.map { i in
                (1 / (1 + expf(-value.data[i])) - targets.data[i]) * g.data[0]
            }))
        }
    }

    /// log(1 + eˣ) without overflow.
    @inline(__always) static func softplus(_ x: Float) -> Float { Swift.max(x, 0) + log1pf(expf(-Swift.abs(x))) }
}
