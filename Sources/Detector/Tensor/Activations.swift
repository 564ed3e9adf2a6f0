import Foundation

/// Elementwise activations, in place on a tensor's storage.
public enum Activation: Sendable {
    case relu, relu6, silu, gelu, sigmoid, tanh

    @inline(__always)
    public func apply(_ v: Float) -> Float {
        switch self {
        case .relu: return max(v, 0)
        case .relu6: return min(max(v, 0), 6)
        case .silu: return v / (1 + expf(-v))
        case .gelu: return 0.5 * v * (1 + erff(v * 0.70710678118654752))  // exact (erf) GELU, as BERT/RoBERTa use
        case .sigmoid: return 1 / (1 + expf(-v))
        case .tanh: return tanhf(v)
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = apply(p[i]) }
        }
        return y
    }
}

extension Tensor {
    /// Elementwise sum of two same-shaped tensors.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
        var y = a
        y.data.withUnsafeMutableBufferPointer { p in
            b.data.withUnsafeBufferPointer { q in for i in p.indices { p[i] += q[i] } }
        }
        return y
    }

    /// Multiplies every element by `s`.
    public static func * (a: Tensor, s: Float) -> Tensor {
        var y = a
        y.data.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= s } }
        return y
    }
}
