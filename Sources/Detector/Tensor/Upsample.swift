import Foundation

/// `F.interpolate(x, size=(Ho, Wo), mode="nearest")` on one image, as PyTorch picks the source pixel.
extension Tensor {
    /// x (C, H, W) → (C, Ho, Wo).
    public func upsampledNearest(height ho: Int, width wo: Int) -> Tensor {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let rows = Self.nearestSources(out: ho, in: h), cols = Self.nearestSources(out: wo, in: w)
        var out = [Float](repeating: 0, count: c * ho * wo)
        for ch in 0..<c { for y in 0..<ho { for x in 0..<wo {
            out[(ch * ho + y) * wo + x] = data[(ch * h + rows[y]) * w + cols[x]]
        } } }
        return Tensor(shape: [c, ho, wo], data: out)
    }

    /// PyTorch's `nearest_idx`: an exact doubling takes i / 2; otherwise ⌊i · (in / out)⌋ in float32, capped.
    static func nearestSources(out: Int, in input: Int) -> [Int] {
        if out == 2 * input { return (0..<out).map { $0 >> 1 } }
        let scale = Float(input) / Float(out)
        return (0..<out).map { min(Int((Float($0) * scale).rounded(.down)), input - 1) }
    }
}
