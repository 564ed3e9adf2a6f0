import Foundation

/// Convolutional-network ops on one image: x (C, H, W). Convolution by im2col per group (groups = C is depthwise),
/// frozen batch norm as a constant per-channel affine, max pooling, and the squeeze-excitation pieces.
extension Variable {
    /// w (O, C/groups, kh, kw), optional bias (O) → (O, Ho, Wo).
    public func conv2d(_ weight: Variable, _ bias: Variable?, stride: Int = 1, padding: Padding = .symmetric(0),
                       groups: Int = 1) -> Variable {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(c == cg * groups && o % groups == 0, "conv2d: input \(shape), weight \(weight.shape), groups \(groups)")
        let (top, _, ho) = padding.resolve(input: h, kernel: kh, stride: stride)
        let (left, _, wo) = padding.resolve(input: w, kernel: kw, stride: stride)
        let og = o / groups, k = cg * kh * kw, n = ho * wo
        // cols[(ci·kh + dy)·kw + dx][oy·wo + ox] ↔ x[gi·cg + ci][oy·s + dy − pt][ox·s + dx − pl] where inside the image:
        // im2col copies through it, col2im (the backward) accumulates through it. Each (row, oy) touches one run of
        // output columns, found once, so the inner loop is a plain strided copy.
        func forEachRun(_ gi: Int, _ body: (_ col: Int, _ x: Int, _ count: Int) -> Void) {
            for ci in 0..<cg { for dy in 0..<kh { for dx in 0..<kw {
                let row = ((ci * kh + dy) * kw + dx) * n
                // ox with 0 ≤ ox·s + dx − pl < w.
                let lo = max(0, (left - dx + stride - 1) / stride)
                let hi = min(wo, (w - 1 + left - dx) / stride + 1)
                guard hi > lo, w - 1 + left - dx >= 0 else { continue }
                for oy in 0..<ho {
                    let iy = oy * stride + dy - top
                    guard iy >= 0 && iy < h else { continue }
                    body(row + oy * wo + lo, ((gi * cg + ci) * h + iy) * w + lo * stride + dx - left, hi - lo)
                }
            } } }
        }
        func im2col(_ gi: Int) -> [Float] {   // (k, n)
            var cols = [Float](repeating: 0, count: k * n)
            value.data.withUnsafeBufferPointer { xp in
                cols.withUnsafeMutableBufferPointer { cp in
                    forEachRun(gi) { col, x, count in
                        if stride == 1 {
                            (cp.baseAddress! + col).update(from: xp.baseAddress! + x, count: count)
                        } else {
                            for j in 0..<count { cp[col + j] = xp[x + j * stride] }
                        }
                    }
                }
            }
            return cols
        }
        var out = [Float](repeating: 0, count: o * n)
        for gi in 0..<groups {
            let cols = im2col(gi)
            weight.value.data.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    BLAS.gemmColumns(m: og, n: n, k: k, a: wp.baseAddress! + gi * og * k, lda: k, b: cols, ldb: n,
                              c: op.baseAddress! + gi * og * n, ldc: n)
                }
            }
        }
        if let bias { for oc in 0..<o { for i in 0..<n { out[oc * n + i] += bias.value.data[oc] } } }
        let parents = bias.map { [self, weight, $0] } ?? [self, weight]
        return Variable(Tensor(shape: [o, ho, wo], data: out), parents: parents) { [self] g in
            var dx = [Float](repeating: 0, count: value.count)
            var dw = [Float](repeating: 0, count: weight.value.count)
            for gi in 0..<groups {
                let cols = im2col(gi)
                g.data.withUnsafeBufferPointer { gp in
                    let dOut = gp.baseAddress! + gi * og * n   // (og, n)
                    if weight.requiresGrad {
                        dw.withUnsafeMutableBufferPointer { dwp in   // dW_g = dOut_g · colsᵀ
                            BLAS.gemmRows(transB: true, m: og, n: k, k: n, a: dOut, lda: n, b: cols, ldb: n,
                                      c: dwp.baseAddress! + gi * og * k, ldc: k)
                        }
                    }
                    guard requiresGrad else { return }
                    var dcols = [Float](repeating: 0, count: k * n)   // W_gᵀ · dOut_g, then col2im
                    weight.value.data.withUnsafeBufferPointer { wp in
                        BLAS.gemmColumns(transA: true, m: k, n: n, k: og, a: wp.baseAddress! + gi * og * k, lda: k, b: dOut, ldb: n,
                                  c: &dcols, ldc: n)
                    }
                    dx.withUnsafeMutableBufferPointer { dp in
                        dcols.withUnsafeBufferPointer { cp in
                            forEachRun(gi) { col, x, count in for j in 0..<count { dp[x + j * stride] += cp[col + j] } }
                        }
                    }
                }
            }
            accumulate(Tensor(shape: shape, data: dx))
            weight.accumulate(Tensor(shape: weight.shape, data: dw))
            if let bias, bias.requiresGrad {
                var db = [Float](repeating: 0, count: o)
                for oc in 0..<o { for i in 0..<n { db[oc] += g.data[oc * n + i] } }
                bias.accumulate(Tensor(shape: [o], data: db))
            }
        }
    }

    /// Frozen batch norm: y = x · scale[c] + shift[c] with constant statistics (MDETR freezes every BN).
    public func channelAffine(scale: [Float], shift: [Float]) -> Variable {
        let c = shape[0], n = value.count / c
        precondition(scale.count == c && shift.count == c)
        var y = value
        for ch in 0..<c { for i in 0..<n { y.data[ch * n + i] = y.data[ch * n + i] * scale[ch] + shift[ch] } }
        return Variable(y, parents: [self]) { [self] g in
            var d = g.data
            for ch in 0..<c { for i in 0..<n { d[ch * n + i] *= scale[ch] } }
            accumulate(Tensor(shape: shape, data: d))
        }
    }

    /// Max pooling (k×k, stride, symmetric padding with −∞), as `nn.MaxPool2d`; the gradient goes to the first maximum.
    public func maxPool2d(kernel: Int, stride: Int, padding: Int) -> Variable {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
        var out = [Float](repeating: -.infinity, count: c * ho * wo)
        var argmax = [Int](repeating: 0, count: out.count)
        for ch in 0..<c { for oy in 0..<ho { for ox in 0..<wo {
            let o = (ch * ho + oy) * wo + ox
            for dy in 0..<kernel { for dx in 0..<kernel {
                let iy = oy * stride + dy - padding, ix = ox * stride + dx - padding
                guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                let i = (ch * h + iy) * w + ix
                if value.data[i] > out[o] { out[o] = value.data[i]; argmax[o] = i }
            } }
        } } }
        return Variable(Tensor(shape: [c, ho, wo], data: out), parents: [self]) { [self] g in
            var d = [Float](repeating: 0, count: value.count)
            for o in g.data.indices { d[argmax[o]] += g.data[o] }
            accumulate(Tensor(shape: shape, data: d))
        }
    }

    /// Mean over each channel's H×W: (C, H, W) → (C).
    public func spatialMean() -> Variable {
        let c = shape[0], n = value.count / c
        let out = (0..<c).map { ch in value.data[(ch * n)..<((ch + 1) * n)].reduce(0, +) / Float(n) }
        return Variable(Tensor(shape: [c], data: out), parents: [self]) { [self] g in
            var d = [Float](repeating: 0, count: value.count)
            for ch in 0..<c { for i in 0..<n { d[ch * n + i] = g.data[ch] / Float(n) } }
            accumulate(Tensor(shape: shape, data: d))
        }
    }

    /// x (C, H, W) with channel c scaled by s[c] (squeeze-excitation gating).
    public func scalingChannels(_ s: Variable) -> Variable {
        let c = shape[0], n = value.count / c
        precondition(s.value.count == c)
        var y = value
        for ch in 0..<c { for i in 0..<n { y.data[ch * n + i] *= s.value.data[ch] } }
        return Variable(y, parents: [self, s]) { [self] g in
            var dx = g.data
            var ds = [Float](repeating: 0, count: c)
            for ch in 0..<c { for i in 0..<n {
                ds[ch] += g.data[ch * n + i] * value.data[ch * n + i]
                dx[ch * n + i] *= s.value.data[ch]
            } }
            accumulate(Tensor(shape: shape, data: dx))
            s.accumulate(Tensor(shape: s.shape, data: ds))
        }
    }
}
