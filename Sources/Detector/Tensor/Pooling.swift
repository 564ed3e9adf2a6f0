/// Max pooling on one image (C, H, W) with symmetric padding (padded cells never win), as `nn.MaxPool2d`.
public func maxPool2D(_ x: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
    let c = x.shape[0], h = x.shape[1], w = x.shape[2]
    let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
    var out = [Float](repeating: -.infinity, count: c * ho * wo)
    x.data.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            let s = src.baseAddress!, d = dst.baseAddress!
            parallelFor(c) { ch in
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var m = -Float.infinity
                        for ky in 0..<kernel {
                            let iy = oy * stride - padding + ky
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<kernel {
                                let ix = ox * stride - padding + kx
                                if ix < 0 || ix >= w { continue }
                                m = max(m, s[(ch * h + iy) * w + ix])
                            }
                        }
                        d[(ch * ho + oy) * wo + ox] = m
                    }
                }
            }
        }
    }
    return Tensor(shape: [c, ho, wo], data: out)
}

/// Mean over H×W for each channel: (C, H, W) → (C). The sum runs in double precision: a float32 running sum over a
/// first-stage channel at the evaluation size (~213,000 pixels) loses up to 5e-4 of the mean, and every
/// squeeze-excitation gate fed by it scales a whole channel by that much (docs/detector.md, EfficientNetFidelityTests).
public func globalAveragePool(_ x: Tensor) -> Tensor {
    let c = x.shape[0], n = x.shape[1] * x.shape[2]
    var out = [Float](repeating: 0, count: c)
    x.data.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            let s = src.baseAddress!, d = dst.baseAddress!
            let parts = partition(c, parts: BLASThreads.workers)
            parallelFor(parts.count) { t in
                for ch in parts[t] {
                    var sum: Double = 0
                    for i in 0..<n { sum += Double(s[ch * n + i]) }
                    d[ch] = Float(sum / Double(n))
                }
            }
        }
    }
    return Tensor(shape: [c], data: out)
}
