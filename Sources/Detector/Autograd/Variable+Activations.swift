import Foundation

/// Pointwise nonlinearities: forward value and derivative side by side.
extension Variable {
    /// y = f(x) with dy/dx = f'(x, y), both elementwise.
    func pointwise(_ f: (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Variable {
        let y = Tensor(shape: shape, data: value.data.map(f))
        return Variable(y, parents: [self]) { [self] g in
            var d = g.data
            for i in d.indices { d[i] *= derivative(value.data[i], y.data[i]) }
            accumulate(Tensor(shape: shape, data: d))
        }
    }

    public func relu() -> Variable { pointwise({ max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : 0 }) }

    public func relu6() -> Variable {
        pointwise({ min(max($0, 0), 6) }, derivative: { x, _ in x > 0 && x < 6 ? 1 : 0 })
    }

    public func sigmoid() -> Variable {
        pointwise({ 1 / (1 + expf(-$0)) }, derivative: { _, y in y * (1 - y) })
    }

    public func silu() -> Variable {
        pointwise({ $0 / (1 + expf(-$0)) }, derivative: { x, _ in
            let s = 1 / (1 + expf(-x))
            return s * (1 + x * (1 - s))
        })
    }

    /// Exact (erf) GELU, as BERT and RoBERTa use.
    public func gelu() -> Variable {
        pointwise({ 0.5 * $0 * (1 + erff($0 * 0.70710678118654752)) }, derivative: { x, _ in
            0.5 * (1 + erff(x * 0.70710678118654752)) + x * expf(-0.5 * x * x) * 0.3989422804014327
        })
    }

    public func tanh() -> Variable { pointwise({ tanhf($0) }, derivative: { _, y in 1 - y * y }) }

    public func log() -> Variable { pointwise({ logf($0) }, derivative: { x, _ in 1 / x }) }
}

extension Variable {
    /// Inverted dropout: each element zeroed with probability p, the rest scaled by 1/(1 − p).
    public func dropout(_ p: Float, using random: inout SplitMix64) -> Variable {
        let keep = 1 - p
        let mask = (0..<value.count).map { _ in Float(random.unit()) < keep ? 1 / keep : 0 }
        return Variable(Tensor(shape: shape, data: zip(value.data, mask).map { $0 * $1 }), parents: [self]) { [self] g in
            accumulate(Tensor(shape: shape, data: zip(g.data, mask).map { $0 * $1 }))
        }
    }
}
