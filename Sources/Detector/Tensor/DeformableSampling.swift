import Foundation

/// Where a deformable convolution reads: torchvision's `deform_conv2d` (no mask, one offset group, dilation 1). Tap
/// (i, j) of output position (oy, ox) samples the input at (oy·s − p + i + Δy, ox·s − p + j + Δx), with Δy, Δx read
/// from `offsets` (2·kh·kw, Ho, Wo) as (Δy, Δx) per tap, bilinearly, as zero beyond one pixel outside the image —
/// `bilinear_interpolate` and `get_coordinate_weight` of torchvision's CPU kernel, in the same float32 arithmetic.
/// The corners and fractions are found once and serve every channel, the forward and both backward products.
struct DeformableSampling {
    let height: Int, width: Int, kernel: Int, outHeight: Int, outWidth: Int
    /// Per (tap, position): the four corners' flat indices in one channel (−1 where the corner is outside) …
    private(set) var corners: [Int32]
    /// … and the fractional parts (lh, lw); NaN marks a sample that lies wholly outside (it reads zero).
    private(set) var fractions: [Float]

    var taps: Int { kernel * kernel }
    var positions: Int { outHeight * outWidth }

    /// offsets (2·k·k, Ho, Wo) for an input of height × width.
    init(offsets: Tensor, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        precondition(offsets.rank == 3 && offsets.shape[0] == 2 * kernel * kernel,
                     "deformable sampling: offsets \(offsets.shape) for a \(kernel)×\(kernel) kernel")
        (self.height, self.width, self.kernel) = (height, width, kernel)
        (outHeight, outWidth) = (offsets.shape[1], offsets.shape[2])
        let n = outHeight * outWidth, k = kernel * kernel
        corners = [Int32](repeating: -1, count: k * n * 4)
        fractions = [Float](repeating: .nan, count: k * n * 2)
        for tap in 0..<k {
            let (i, j) = (tap / kernel, tap % kernel)
            for oy in 0..<outHeight { for ox in 0..<outWidth {
                let p = oy * outWidth + ox
                let y = Float(oy * stride - padding + i) + offsets.data[(2 * tap) * n + p]
                let x = Float(ox * stride - padding + j) + offsets.data[(2 * tap + 1) * n + p]
                // A NaN offset (from a file's weights) fails every comparison: treat it as outside, reading zero.
                guard y > -1, y < Float(height), x > -1, x < Float(width) else { continue }
                let yl = Int(y.rounded(.down)), xl = Int(x.rounded(.down))
                let q = (tap * n + p)
                fractions[2 * q] = y - Float(yl)
                fractions[2 * q + 1] = x - Float(xl)
                let yh = yl + 1, xh = xl + 1
                corners[4 * q] = yl >= 0 && xl >= 0 ? Int32(yl * width + xl) : -1
                corners[4 * q + 1] = yl >= 0 && xh <= width - 1 ? Int32(yl * width + xh) : -1
                corners[4 * q + 2] = yh <= height - 1 && xl >= 0 ? Int32(yh * width + xl) : -1
                corners[4 * q + 3] = yh <= height - 1 && xh <= width - 1 ? Int32(yh * width + xh) : -1
            } }
        }
    }

    /// The bilinear weights of the four corners of sample q (zero for a sample outside).
    @inline(__always) private func weights(_ q: Int) -> (Float, Float, Float, Float)? {
        let lh = fractions[2 * q], lw = fractions[2 * q + 1]
        guard !lh.isNaN else { return nil }
        let hh = 1 - lh, hw = 1 - lw
        return (hh * hw, hh * lw, lh * hw, lh * lw)
    }

    /// im2col: x (C, H, W) → columns (C·k·k, Ho·Wo), row (c·k·k + tap). Blocks of channels are shared between the
    /// cores (each writes its own rows); within a block every sample's corners and weights are read once and serve
    /// its few channels, whose rows are written in order (one channel per sample at a time wrote rows 0.5 MB apart).
    func columns(_ x: Tensor) -> [Float] {
        let c = x.shape[0], n = positions, plane = height * width, block = 8
        var cols = [Float](repeating: 0, count: c * taps * n)
        let blocks = Swift.stride(from: 0, to: c, by: block).map { $0..<min(c, $0 + block) }
        x.data.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { cp in
                let workers = c * taps * n < 1 << 16 ? 1 : min(BLASThreads.workers, blocks.count)
                parallelFor(workers) { worker in
                    var b = worker
                    while b < blocks.count {
                        let channels = blocks[b]
                        for tap in 0..<taps { for p in 0..<n {
                            let q = tap * n + p
                            guard let (w1, w2, w3, w4) = weights(q) else { continue }
                            let i1 = Int(corners[4 * q]), i2 = Int(corners[4 * q + 1]), i3 = Int(corners[4 * q + 2]), i4 = Int(corners[4 * q + 3])
                            for ch in channels {
                                let base = ch * plane
                                var v: Float = 0
                                if i1 >= 0 { v += w1 * xp[base + i1] }
                                if i2 >= 0 { v += w2 * xp[base + i2] }
                                if i3 >= 0 { v += w3 * xp[base + i3] }
                                if i4 >= 0 { v += w4 * xp[base + i4] }
                                cp[(ch * taps + tap) * n + p] = v
                            }
                        } }
                        b += workers
                    }
                }
            }
        }
        return cols
    }

    /// im2col with the channels last, for inference: x (C, H, W) → columns (Ho·Wo·k·k, C), row (p·k·k + tap). A
    /// sample's four corners are rows of C contiguous values in x's (H·W, C) transpose, so the bilinear blend runs
    /// over the channels in vectors (`columns` gathers one value per channel from C planes). A corner outside the
    /// image reads a row of zeros, as `columns` adds nothing for it.
    func columnsChannelsLast(_ x: Tensor) -> [Float] {
        let c = x.shape[0], n = positions
        let xt = x.reshaped([c, height * width]).transposed()   // (H·W, C)
        var cols = [Float](repeating: 0, count: n * taps * c)
        let zeros = [Float](repeating: 0, count: c)
        let parts = partition(n, parts: n * taps * c < 1 << 16 ? 1 : BLASThreads.workers)
        xt.data.withUnsafeBufferPointer { xp in
            zeros.withUnsafeBufferPointer { zp in
                cols.withUnsafeMutableBufferPointer { cp in
                    parallelFor(parts.count) { part in
                        let x0 = xp.baseAddress!, zero = zp.baseAddress!
                        func row(_ corner: Int32) -> UnsafePointer<Float> { corner >= 0 ? x0 + Int(corner) * c : zero }
                        for p in parts[part] { for tap in 0..<taps {
                            let q = tap * n + p
                            guard let (w1, w2, w3, w4) = weights(q) else { continue }
                            let r1 = row(corners[4 * q]), r2 = row(corners[4 * q + 1]), r3 = row(corners[4 * q + 2]), r4 = row(corners[4 * q + 3])
                            let dst = cp.baseAddress! + (p * taps + tap) * c
                            for ch in 0..<c { dst[ch] = w1 * r1[ch] + w2 * r2[ch] + w3 * r3[ch] + w4 * r4[ch] }
                        } }
                    }
                }
            }
        }
        return cols
    }

    /// col2im: the columns' gradient (C·k·k, Ho·Wo) spread back onto the input (C, H, W).
    func inputGradient(columns g: [Float], channels c: Int) -> [Float] {
        let n = positions, plane = height * width
        var dx = [Float](repeating: 0, count: c * plane)
        for tap in 0..<taps { for p in 0..<n {
            let q = tap * n + p
            guard let (w1, w2, w3, w4) = weights(q) else { continue }
            let idx = (Int(corners[4 * q]), Int(corners[4 * q + 1]), Int(corners[4 * q + 2]), Int(corners[4 * q + 3]))
            for ch in 0..<c {
                let d = g[(ch * taps + tap) * n + p], base = ch * plane
                if idx.0 >= 0 { dx[base + idx.0] += w1 * d }
                if idx.1 >= 0 { dx[base + idx.1] += w2 * d }
                if idx.2 >= 0 { dx[base + idx.2] += w3 * d }
                if idx.3 >= 0 { dx[base + idx.3] += w4 * d }
            }
        } }
        return dx
    }

    /// The offsets' gradient (2·k·k, Ho, Wo): each sample's value moves with its position along y and x.
    func offsetGradient(columns g: [Float], input x: Tensor) -> [Float] {
        let c = x.shape[0], n = positions, plane = height * width
        var d = [Float](repeating: 0, count: 2 * taps * n)
        for tap in 0..<taps { for p in 0..<n {
            let q = tap * n + p
            let lh = fractions[2 * q], lw = fractions[2 * q + 1]
            guard !lh.isNaN else { continue }
            let hh = 1 - lh, hw = 1 - lw
            var dy: Float = 0, dxs: Float = 0
            for ch in 0..<c {
                let base = ch * plane
                let v1 = corners[4 * q] >= 0 ? x.data[base + Int(corners[4 * q])] : 0
                let v2 = corners[4 * q + 1] >= 0 ? x.data[base + Int(corners[4 * q + 1])] : 0
                let v3 = corners[4 * q + 2] >= 0 ? x.data[base + Int(corners[4 * q + 2])] : 0
                let v4 = corners[4 * q + 3] >= 0 ? x.data[base + Int(corners[4 * q + 3])] : 0
                let gc = g[(ch * taps + tap) * n + p]
                dy += gc * (hw * (v3 - v1) + lw * (v4 - v2))
                dxs += gc * (hh * (v2 - v1) + lh * (v4 - v3))
            }
            d[(2 * tap) * n + p] = dy
            d[(2 * tap + 1) * n + p] = dxs
        } }
        return d
    }
}

extension Tensor {
    /// torchvision's `deform_conv2d(x, offsets, weight, bias, stride, padding)` on one image: x (C, H, W), offsets
    /// (2·k·k, Ho, Wo), weight (O, C, k, k), bias (O) → (O, Ho, Wo).
    public func deformableConvolved(offsets: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int) -> Tensor {
        let (c, k, o) = (shape[0], weight.shape[2], weight.shape[0])
        precondition(weight.shape[1] == c && weight.shape[3] == k, "deformable conv: input \(shape), weight \(weight.shape)")
        let sampling = DeformableSampling(offsets: offsets, height: shape[1], width: shape[2], kernel: k, stride: stride, padding: padding)
        let cols = sampling.columnsChannelsLast(self), n = sampling.positions, taps = k * k   // (Ho·Wo, k·k·C)
        // The weight as (O, k·k, C), the columns' order.
        var w = [Float](repeating: 0, count: o * taps * c)
        for oc in 0..<o { for ch in 0..<c { for tap in 0..<taps { w[(oc * taps + tap) * c + ch] = weight.data[(oc * c + ch) * taps + tap] } } }
        var out = [Float](repeating: 0, count: o * n)
        if let bias { for oc in 0..<o { for p in 0..<n { out[oc * n + p] = bias.data[oc] } } }
        w.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                BLAS.gemmRows(transB: true, m: o, n: n, k: taps * c, a: wp.baseAddress!, lda: taps * c, b: cols, ldb: taps * c,
                              beta: bias == nil ? 0 : 1, c: op.baseAddress!, ldc: n)
            }
        }
        return Tensor(shape: [o, sampling.outHeight, sampling.outWidth], data: out)
    }
}
