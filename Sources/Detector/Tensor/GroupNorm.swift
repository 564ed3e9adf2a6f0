import Foundation

/// `nn.GroupNorm` on one image, and the statistics its backward needs.
extension Tensor {
    /// x (C, H, W): each of `groups` channel groups normalized over its channels and positions (biased variance, sums
    /// in double precision), then the per-channel affine, then `activation`.
    public func groupNormalized(weight: Tensor, bias: Tensor, groups: Int, eps: Float, activation: Activation? = nil) -> Tensor {
        var y = self
        let stats = groupStatistics(groups: groups, eps: eps)
        let c = shape[0], n = count / c, perGroup = c / groups
        y.data.withUnsafeMutableBufferPointer { yp in
            for ch in 0..<c {
                let (mean, inv) = stats[ch / perGroup]
                let scale = weight.data[ch] * inv, shift = bias.data[ch] - mean * scale
                for i in (ch * n)..<((ch + 1) * n) { yp[i] = yp[i] * scale + shift }
            }
        }
        if let activation { activation.apply(to: &y) }
        return y
    }

    /// Each group's (mean, 1/√(var + eps)).
    func groupStatistics(groups: Int, eps: Float) -> [(mean: Float, inverse: Float)] {
        let c = shape[0]
        precondition(rank == 3 && c % groups == 0, "group norm: \(shape) in \(groups) groups")
        let size = count / groups
        return data.withUnsafeBufferPointer { xp in
            (0..<groups).map { g in
                var sum = 0.0, squares = 0.0
                for i in (g * size)..<((g + 1) * size) { sum += Double(xp[i]) }
                let mean = sum / Double(size)
                for i in (g * size)..<((g + 1) * size) { let d = Double(xp[i]) - mean; squares += d * d }
                return (Float(mean), Float(1 / (squares / Double(size) + Double(eps)).squareRoot()))
            }
        }
    }
}
