import Foundation

/// LayerNorm over the last axis: (x − mean) / √(var + eps) · γ + β, variance biased, as PyTorch computes it.
public struct LayerNorm: Sendable {
    public var weight: Tensor   // (E)
    public var bias: Tensor     // (E)
    public let eps: Float

    public init(weight: Tensor, bias: Tensor, eps: Float) {
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { normalized(x, adding: nil) }

    /// LayerNorm(x + residual), the post-norm transformer's step, in one pass over the rows.
    public func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        precondition(x.shape == residual.shape, "add: \(x.shape) vs \(residual.shape)")
        return normalized(x, adding: residual)
    }

    private func normalized(_ x: Tensor, adding residual: Tensor?) -> Tensor {
        let e = weight.count
        precondition(x.shape.last == e, "layer norm over \(e) got \(x.shape)")
        var y = x
        let rows = x.count / e
        y.data.withUnsafeMutableBufferPointer { p in
            weight.data.withUnsafeBufferPointer { g in
                bias.data.withUnsafeBufferPointer { b in
                    residual.withUnsafeOptionalPointer { q in
                        let parts = partition(rows, parts: x.count < 1 << 15 ? 1 : BLASThreads.workers)
                        parallelFor(parts.count) { t in
                            for r in parts[t] {
                                let row = p.baseAddress! + r * e
                                if let q { Vector.axpy(row, q + r * e, 1, e) }
                                let mean = Vector.sum(row, e) / Float(e)
                                let inv = 1 / (Vector.squaredDeviations(row, e, from: mean) / Float(e) + eps).squareRoot()
                                for i in 0..<e { row[i] = (row[i] - mean) * inv * g[i] + b[i] }
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}

/// Softmax over the last axis, max-subtracted for stability.
public func softmaxLastAxis(_ x: Tensor) -> Tensor {
    let n = x.shape.last!
    var y = x
    y.data.withUnsafeMutableBufferPointer { p in
        for r in 0..<(x.count / n) {
            let row = p.baseAddress! + r * n
            var m = -Float.infinity
            for i in 0..<n { m = max(m, row[i]) }
            let inv = 1 / Vector.expShifted(row, n, shift: m)
            for i in 0..<n { row[i] *= inv }
        }
    }
    return y
}
