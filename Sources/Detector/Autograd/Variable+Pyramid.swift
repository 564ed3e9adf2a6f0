import Foundation

/// The ops a feature pyramid and a dense detection head add: group norm, nearest upsampling, deformable convolution
/// and a learned scalar scale. One image at a time: x (C, H, W).
extension Variable {
    /// `nn.GroupNorm(groups, C)` then `activation`.
    public func groupNorm(_ weight: Variable, _ bias: Variable, groups: Int, eps: Float) -> Variable {
        let c = shape[0], n = value.count / c, perGroup = c / groups, size = value.count / groups
        let stats = value.groupStatistics(groups: groups, eps: eps)
        var normalized = value   // x̂
        for ch in 0..<c {
            let (mean, inv) = stats[ch / perGroup]
            for i in (ch * n)..<((ch + 1) * n) { normalized.data[i] = (normalized.data[i] - mean) * inv }
        }
        var out = normalized
        for ch in 0..<c { for i in (ch * n)..<((ch + 1) * n) { out.data[i] = out.data[i] * weight.value.data[ch] + bias.value.data[ch] } }
        return Variable(out, parents: [self, weight, bias]) { [self] g in
            var dWeight = [Float](repeating: 0, count: c), dBias = [Float](repeating: 0, count: c)
            var dxhat = g.data
            for ch in 0..<c { for i in (ch * n)..<((ch + 1) * n) {
                dWeight[ch] += g.data[i] * normalized.data[i]
                dBias[ch] += g.data[i]
                dxhat[i] *= weight.value.data[ch]
            } }
            if requiresGrad {
                // dx = (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) / σ over each group.
                var dx = [Float](repeating: 0, count: value.count)
                for gi in 0..<groups {
                    let range = (gi * size)..<((gi + 1) * size)
                    var m1 = 0.0, m2 = 0.0
                    for i in range { m1 += Double(dxhat[i]); m2 += Double(dxhat[i] * normalized.data[i]) }
                    let (a, b) = (Float(m1 / Double(size)), Float(m2 / Double(size)))
                    for i in range { dx[i] = (dxhat[i] - a - normalized.data[i] * b) * stats[gi].inverse }
                }
                accumulate(Tensor(shape: shape, data: dx))
            }
            weight.accumulate(Tensor(shape: weight.shape, data: dWeight))
            bias.accumulate(Tensor(shape: bias.shape, data: dBias))
        }
    }

    /// Nearest upsampling to (Ho, Wo), PyTorch's source pixels; the backward sums each output's gradient into its source.
    public func upsampledNearest(height ho: Int, width wo: Int) -> Variable {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let rows = Tensor.nearestSources(out: ho, in: h), cols = Tensor.nearestSources(out: wo, in: w)
        return Variable(value.upsampledNearest(height: ho, width: wo), parents: [self]) { [self] g in
            var d = [Float](repeating: 0, count: value.count)
            for ch in 0..<c { for y in 0..<ho { for x in 0..<wo {
                d[(ch * h + rows[y]) * w + cols[x]] += g.data[(ch * ho + y) * wo + x]
            } } }
            accumulate(Tensor(shape: shape, data: d))
        }
    }

    /// torchvision's `deform_conv2d` (see `DeformableSampling`), with gradients for the input, the offsets, the weight
    /// and the bias.
    public func deformableConv2d(offsets: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int) -> Variable {
        let (c, k, o) = (shape[0], weight.shape[2], weight.shape[0])
        let sampling = DeformableSampling(offsets: offsets.value, height: shape[1], width: shape[2], kernel: k, stride: stride,
                                          padding: padding)
        let out = value.deformableConvolved(offsets: offsets.value, weight: weight.value, bias: bias?.value, stride: stride,
                                            padding: padding)
        let parents = [self, offsets, weight] + (bias.map { [$0] } ?? [])
        return Variable(out, parents: parents) { [self] g in
            let n = sampling.positions, rows = c * k * k
            let cols = sampling.columns(value)
            if weight.requiresGrad {   // dW = dOut · colsᵀ
                var dw = [Float](repeating: 0, count: weight.value.count)
                g.data.withUnsafeBufferPointer { gp in
                    dw.withUnsafeMutableBufferPointer { dp in
                        BLAS.gemmRows(transB: true, m: o, n: rows, k: n, a: gp.baseAddress!, lda: n, b: cols, ldb: n,
                                  c: dp.baseAddress!, ldc: rows)
                    }
                }
                weight.accumulate(Tensor(shape: weight.shape, data: dw))
            }
            if let bias, bias.requiresGrad {
                bias.accumulate(Tensor(shape: bias.shape, data: (0..<o).map { oc in g.data[(oc * n)..<((oc + 1) * n)].reduce(0, +) }))
            }
            guard requiresGrad || offsets.requiresGrad else { return }
            var dCols = [Float](repeating: 0, count: rows * n)   // Wᵀ · dOut
            weight.value.data.withUnsafeBufferPointer { wp in
                g.data.withUnsafeBufferPointer { gp in
                    dCols.withUnsafeMutableBufferPointer { dp in
                        BLAS.gemmColumns(transA: true, m: rows, n: n, k: o, a: wp.baseAddress!, lda: rows, b: gp.baseAddress!, ldb: n,
                                  c: dp.baseAddress!, ldc: n)
                    }
                }
            }
            if requiresGrad { accumulate(Tensor(shape: shape, data: sampling.inputGradient(columns: dCols, channels: c))) }
            if offsets.requiresGrad {
                offsets.accumulate(Tensor(shape: offsets.shape, data: sampling.offsetGradient(columns: dCols, input: value)))
            }
        }
    }

    /// self · s + t for one-element s and t (a learned per-level scale; a logit temperature and bias).
    public func scaled(by s: Variable, shift t: Variable? = nil) -> Variable {
        precondition(s.value.count == 1 && (t?.value.count ?? 1) == 1, "scaled(by:shift:) takes scalars, got \(s.shape), \(t?.shape ?? [])")
        let factor = s.value.data[0], offset = t?.value.data[0] ?? 0
        let parents = [self, s] + (t.map { [$0] } ?? [])
        return Variable(Tensor(shape: shape, data: value.data.map { $0 * factor + offset }), parents: parents) { [self] g in
            if requiresGrad { accumulate(Tensor(shape: shape, data: g.data.map { $0 * factor })) }
            if s.requiresGrad {
                var sum: Float = 0
                for i in g.data.indices { sum += g.data[i] * value.data[i] }
                s.accumulate(Tensor(shape: s.shape, data: [sum]))
            }
            if let t, t.requiresGrad { t.accumulate(Tensor(shape: t.shape, data: [g.data.reduce(0, +)])) }
        }
    }
}
