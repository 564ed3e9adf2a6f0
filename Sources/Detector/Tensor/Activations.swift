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
        apply(to: &y)
        return y
    }

    /// In place: no copy when the caller owns the only reference (the usual case for a fresh layer output).
    /// Large tensors are split among the workers.
    public func apply(to x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let parts = partition(buffer.count, parts: buffer.count < 1 << 16 ? 1 : BLASThreads.workers)
            parallelFor(parts.count) { t in apply(base + parts[t].lowerBound, parts[t].count) }
        }
    }

    /// In place on p[0..<n], on the calling thread.
    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        switch self {
        case .relu: for i in 0..<n { p[i] = max(p[i], 0) }
        case .relu6: for i in 0..<n { p[i] = min(max(p[i], 0), 6) }
        case .silu: Vector.silu(p, n)
        case .sigmoid: Vector.sigmoid(p, n)
        default: for i in 0..<n { p[i] = apply(p[i]) }
        }
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

    /// self += other, elementwise, in place.
    public mutating func add(_ other: Tensor) {
        precondition(shape == other.shape, "add: \(shape) vs \(other.shape)")
        data.withUnsafeMutableBufferPointer { p in
            other.data.withUnsafeBufferPointer { q in
                let dst = p.baseAddress!, src = q.baseAddress!
                let parts = partition(p.count, parts: p.count < 1 << 16 ? 1 : BLASThreads.workers)
                parallelFor(parts.count) { t in
                    for i in parts[t] { dst[i] += src[i] }
                }
            }
        }
    }

    /// Multiplies every element by `s`.
    public static func * (a: Tensor, s: Float) -> Tensor {
        var y = a
        y.data.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= s } }
        return y
    }
}
