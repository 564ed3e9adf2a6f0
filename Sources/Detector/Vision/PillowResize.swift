import Foundation

/// Pillow's `Image.resize(size, BILINEAR)` on 8-bit RGB, bit for bit: a separable triangle filter whose support
/// widens with the downscale factor (antialiasing), coefficients normalized per output pixel and quantized to 22-bit
/// fixed point, a horizontal pass into an 8-bit intermediate (rounded, clipped) over only the rows the vertical pass
/// needs, then the vertical pass. torchvision's `F.resize` on a PIL image is exactly this; a float resize differs by
/// a grey level here and there, which moves a random-weight model's logits visibly.
public enum PillowResize {
    static let precisionBits = 22

    /// (bounds: (start, count) per output pixel, fixed-point coefficients (outSize × kSize), kSize)
    static func coefficients(inSize: Int, outSize: Int) -> ([(Int, Int)], [Int32], Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = 1.0 * filterScale
        let kSize = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var fixed = [Int32](repeating: 0, count: outSize * kSize)
        var weights = [Double](repeating: 0, count: kSize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var ww = 0.0
            for x in 0..<xmax {
                var t = (Double(x + xmin) - center + 0.5) * ss
                if t < 0 { t = -t }
                let w = t < 1 ? 1 - t : 0
                weights[x] = w
                ww += w
            }
            for x in 0..<kSize {
                var w = x < xmax ? weights[x] : 0
                if x < xmax && ww != 0 { w /= ww }
                let scaled = w * Double(1 << precisionBits)
                fixed[xx * kSize + x] = Int32(w < 0 ? (-0.5 + scaled) : (0.5 + scaled))
            }
            bounds.append((xmin, xmax))
        }
        return (bounds, fixed, kSize)
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> Int32(precisionBits)
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    public static func bilinear(_ image: RGBImage, width outW: Int, height outH: Int) -> RGBImage {
        let inW = image.width, inH = image.height
        // Every scale below is in / out: a zero-sized side would make it infinite and trap in Int(_:).
        precondition(inW > 0 && inH > 0 && outW > 0 && outH > 0, "resize \(inW)×\(inH) → \(outW)×\(outH)")
        if outW == inW && outH == inH { return image }
        let (vBounds, vK, vSize) = coefficients(inSize: inH, outSize: outH)
        var rows = image.pixels
        var rowsW = inW, rowsH = inH
        var vStarts = vBounds.map(\.0)
        let half = Int32(1 << (precisionBits - 1))
        if outW != inW {
            // Horizontal pass over the source rows the vertical pass will read.
            let first = vBounds[0].0
            let last = vBounds[outH - 1].0 + vBounds[outH - 1].1
            let (hBounds, hK, hSize) = coefficients(inSize: inW, outSize: outW)
            var temp = [UInt8](repeating: 0, count: (last - first) * outW * 3)
            image.pixels.withUnsafeBufferPointer { src in
                temp.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<(last - first) {
                        let srow = (y + first) * inW * 3
                        for xx in 0..<outW {
                            let (xmin, xmax) = hBounds[xx]
                            var s0 = half, s1 = half, s2 = half
                            for x in 0..<xmax {
                                let k = hK[xx * hSize + x]
                                let p = srow + (x + xmin) * 3
                                s0 &+= Int32(src[p]) &* k
                                s1 &+= Int32(src[p + 1]) &* k
                                s2 &+= Int32(src[p + 2]) &* k
                            }
                            let d = (y * outW + xx) * 3
                            dst[d] = clip8(s0); dst[d + 1] = clip8(s1); dst[d + 2] = clip8(s2)
                        }
                    }
                }
            }
            rows = temp
            rowsW = outW
            rowsH = last - first
            vStarts = vStarts.map { $0 - first }
        }
        if outH == inH { return RGBImage(width: rowsW, height: rowsH, pixels: rows) }
        var out = [UInt8](repeating: 0, count: outH * rowsW * 3)
        rows.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for yy in 0..<outH {
                    let ymin = vStarts[yy], ymax = vBounds[yy].1
                    for xx in 0..<rowsW {
                        var s0 = half, s1 = half, s2 = half
                        for y in 0..<ymax {
                            let k = vK[yy * vSize + y]
                            let p = ((y + ymin) * rowsW + xx) * 3
                            s0 &+= Int32(src[p]) &* k
                            s1 &+= Int32(src[p + 1]) &* k
                            s2 &+= Int32(src[p + 2]) &* k
                        }
                        let d = (yy * rowsW + xx) * 3
                        dst[d] = clip8(s0); dst[d + 1] = clip8(s1); dst[d + 2] = clip8(s2)
                    }
                }
            }
        }
        return RGBImage(width: rowsW, height: outH, pixels: out)
    }
}
