import Foundation

extension Tensor {
    /// LayerNorm(self + residual) over the last axis, (x − mean) / √(var + eps) · γ + β with biased variance as
    /// PyTorch computes it, in one pass over the rows.
    public func layerNormalized(weight: Tensor, bias: Tensor, eps: Float, adding residual: Tensor?) -> Tensor {
        let e = weight.count
        precondition(shape.last == e, "layer norm over \(e) got \(shape)")
        if let residual { precondition(shape == residual.shape, "add: \(shape) vs \(residual.shape)") }
        var y = self
        let rows = count / e
        y.data.withUnsafeMutableBufferPointer { p in
            weight.data.withUnsafeBufferPointer { g in
                bias.data.withUnsafeBufferPointer { b in
                    residual.withUnsafeOptionalPointer { q in
                        let parts = partition(rows, parts: count < 1 << 15 ? 1 : BLASThreads.workers)
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
