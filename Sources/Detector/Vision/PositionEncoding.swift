import Foundation

/// DETR's sine position encoding (128 features per axis, temperature 10000, normalized by the valid extent, scale
/// 2π): for a feature map h×w with padding mask (true = padded), returns (h·w, 256) row-major — y channels first,
/// then x, each interleaving sin and cos.
public enum PositionEncoding {
    public static func sine(height h: Int, width w: Int, mask: [Bool]? = nil, features: Int = 128,
                            temperature: Float = 10_000) -> Tensor {
        let mask = mask ?? [Bool](repeating: false, count: h * w)
        precondition(mask.count == h * w)
        // Cumulative counts of valid cells, 1-based, as float32.
        var yEmbed = [Float](repeating: 0, count: h * w), xEmbed = [Float](repeating: 0, count: h * w)
        for x in 0..<w {
            var acc: Float = 0
            for y in 0..<h { if !mask[y * w + x] { acc += 1 }; yEmbed[y * w + x] = acc }
        }
        for y in 0..<h {
            var acc: Float = 0
            for x in 0..<w { if !mask[y * w + x] { acc += 1 }; xEmbed[y * w + x] = acc }
        }
        let scale = 2 * Float.pi, eps: Float = 1e-6
        for x in 0..<w {
            let last = yEmbed[(h - 1) * w + x]
            for y in 0..<h { yEmbed[y * w + x] = yEmbed[y * w + x] / (last + eps) * scale }
        }
        for y in 0..<h {
            let last = xEmbed[y * w + w - 1]
            for x in 0..<w { xEmbed[y * w + x] = xEmbed[y * w + x] / (last + eps) * scale }
        }
        let dimT = (0..<features).map { i in powf(temperature, 2 * Float(i / 2) / Float(features)) }
        var out = [Float](repeating: 0, count: h * w * 2 * features)
        for p in 0..<(h * w) {
            let base = p * 2 * features
            for k in 0..<features {
                let vy = yEmbed[p] / dimT[k], vx = xEmbed[p] / dimT[k]
                out[base + k] = k % 2 == 0 ? sinf(vy) : cosf(vy)
                out[base + features + k] = k % 2 == 0 ? sinf(vx) : cosf(vx)
            }
        }
        return Tensor(shape: [h * w, 2 * features], data: out)
    }
}
