import Foundation

/// Row-wise normalizations over the last axis: x viewed as (N, C).
extension Variable {
    /// LayerNorm over the last axis with affine `weight`/`bias` (C).
    public func layerNorm(_ weight: Variable, _ bias: Variable, eps: Float) -> Variable {
        let c = shape.last!, n = value.count / c
        var y = value
        var xhat = [Float](repeating: 0, count: value.count)
        var inv = [Float](repeating: 0, count: n)
        for r in 0..<n {
            var mean: Float = 0
            for j in 0..<c { mean += value.data[r * c + j] }
            mean /= Float(c)
            var variance: Float = 0
            for j in 0..<c { let d = value.data[r * c + j] - mean; variance += d * d }
            inv[r] = 1 / (variance / Float(c) + eps).squareRoot()
            for j in 0..<c {
                let h = (value.data[r * c + j] - mean) * inv[r]
                xhat[r * c + j] = h
                y.data[r * c + j] = h * weight.value.data[j] + bias.value.data[j]
            }
        }
        return Variable(y, parents: [self, weight, bias]) { [self] g in
            var dw = [Float](repeating: 0, count: c), db = [Float](repeating: 0, count: c)
            var dx = [Float](repeating: 0, count: value.count)
            for r in 0..<n {
                // dx = inv/C · (C·dh − Σdh − x̂·Σ(dh·x̂)), dh = dy·γ.
                var sumDh: Float = 0, sumDhX: Float = 0
                for j in 0..<c {
                    let dy = g.data[r * c + j], h = xhat[r * c + j]
                    dw[j] += dy * h
                    db[j] += dy
                    let dh = dy * weight.value.data[j]
                    sumDh += dh
                    sumDhX += dh * h
                }
                for j in 0..<c {
                    let dh = g.data[r * c + j] * weight.value.data[j]
                    dx[r * c + j] = inv[r] / Float(c) * (Float(c) * dh - sumDh - xhat[r * c + j] * sumDhX)
                }
            }
            accumulate(Tensor(shape: shape, data: dx))
            weight.accumulate(Tensor(shape: weight.shape, data: dw))
            bias.accumulate(Tensor(shape: bias.shape, data: db))
        }
    }

    /// Softmax over the last axis.
    public func softmax() -> Variable {
        let y = softmaxLastAxis(value)
        let c = shape.last!
        return Variable(y, parents: [self]) { [self] g in
            var dx = [Float](repeating: 0, count: value.count)
            for r in 0..<(value.count / c) {
                var dot: Float = 0
                for j in 0..<c { dot += g.data[r * c + j] * y.data[r * c + j] }
                for j in 0..<c { dx[r * c + j] = y.data[r * c + j] * (g.data[r * c + j] - dot) }
            }
            accumulate(Tensor(shape: shape, data: dx))
        }
    }

    /// log-softmax over the last axis.
    public func logSoftmax() -> Variable {
        let c = shape.last!, n = value.count / c
        var y = value
        for r in 0..<n {
            let row = value.data[(r * c)..<((r + 1) * c)]
            let m = row.max()!
            let lse = m + logf(row.reduce(0) { $0 + expf($1 - m) })
            for j in 0..<c { y.data[r * c + j] -= lse }
        }
        return Variable(y, parents: [self]) { [self] g in
            var dx = g.data
            for r in 0..<n {
                var s: Float = 0
                for j in 0..<c { s += g.data[r * c + j] }
                for j in 0..<c { dx[r * c + j] -= expf(y.data[r * c + j]) * s }
            }
            accumulate(Tensor(shape: shape, data: dx))
        }
    }

    /// log Σ exp over the last axis: (N, C) → (N).
    public func logSumExp() -> Variable {
        let c = shape.last!, n = value.count / c
        var out = [Float](repeating: 0, count: n)
        for r in 0..<n {
            let row = value.data[(r * c)..<((r + 1) * c)]
            let m = row.max()!
            out[r] = m + logf(row.reduce(0) { $0 + expf($1 - m) })
        }
        return Variable(Tensor(shape: [n], data: out), parents: [self]) { [self] g in
            var dx = [Float](repeating: 0, count: value.count)
            for r in 0..<n { for j in 0..<c { dx[r * c + j] = g.data[r] * expf(value.data[r * c + j] - out[r]) } }
            accumulate(Tensor(shape: shape, data: dx))
        }
    }
}

extension Variable {
    /// Rows scaled to unit length, `F.normalize(x, dim=-1)` (eps 1e-12).
    public func l2NormalizedRows() -> Variable {
        let c = shape.last!, n = value.count / c
        var y = value
        var norms = [Float](repeating: 0, count: n)
        for r in 0..<n {
            var s: Float = 0
            for j in 0..<c { s += value.data[r * c + j] * value.data[r * c + j] }
            norms[r] = max(s.squareRoot(), 1e-12)
            for j in 0..<c { y.data[r * c + j] /= norms[r] }
        }
        return Variable(y, parents: [self]) { [self] g in
            var dx = g.data
            for r in 0..<n {
                // Below eps the norm is the constant eps: plain scaling.
                var dot: Float = 0
                if norms[r] > 1e-12 { for j in 0..<c { dot += g.data[r * c + j] * y.data[r * c + j] } }
                for j in 0..<c { dx[r * c + j] = (g.data[r * c + j] - y.data[r * c + j] * dot) / norms[r] }
            }
            accumulate(Tensor(shape: shape, data: dx))
        }
    }
}

extension Variable {
    /// The largest entry of each row: (N, C) → (N); the gradient goes to the first maximum.
    public func maxLastAxis() -> Variable {
        let c = shape.last!, n = value.count / c
        var out = [Float](repeating: 0, count: n), at = [Int](repeating: 0, count: n)
        for r in 0..<n {
            var best = -Float.infinity
            for j in 0..<c where value.data[r * c + j] > best { best = value.data[r * c + j]; at[r] = j }
            out[r] = best
        }
        return Variable(Tensor(shape: [n], data: out), parents: [self]) { [self] g in
            var d = [Float](repeating: 0, count: value.count)
            for r in 0..<n { d[r * c + at[r]] = g.data[r] }
            accumulate(Tensor(shape: shape, data: d))
        }
    }
}
