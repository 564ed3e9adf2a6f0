/// Inference: parameters are the loaded tensors, ops the fused kernels, no tape.
extension Tensor: NetworkValue {
    public var tensor: Tensor { self }

    public init(constant: Tensor) { self = constant }

    public static func parameter(_ value: Tensor, key: String, registry: ParameterRegistry?) -> Tensor { value }

    public consuming func adding(_ other: Tensor, activation: Activation?) -> Tensor {
        var sum = self
        sum.add(other)
        if let activation { activation.apply(to: &sum) }
        return sum
    }

    public func linear(_ weight: Tensor, _ bias: Tensor?, rows: Range<Int>?, activation: Activation?) -> Tensor {
        BLAS.linear(self, weight: weight, bias: bias, rows: rows, activation: activation)
    }

    public func layerNorm(_ weight: Tensor, _ bias: Tensor, eps: Float, adding residual: Tensor?) -> Tensor {
        layerNormalized(weight: weight, bias: bias, eps: eps, adding: residual)
    }

    public static func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, keyPaddingMask: [Bool]?) -> Tensor {
        AttentionKernel.attend(q: q, k: k, v: v, heads: heads, keyPaddingMask: keyPaddingMask)
    }

    public func activated(_ activation: Activation) -> Tensor { activation(self) }

    public func gather(rows indices: [Int]) -> Tensor {
        let c = count / shape[0]
        var out = [Float](repeating: 0, count: indices.count * c)
        for (k, i) in indices.enumerated() {
            precondition(i >= 0 && i < shape[0], "gather: row \(i) of \(shape[0])")
            out.replaceSubrange((k * c)..<((k + 1) * c), with: data[(i * c)..<((i + 1) * c)])
        }
        return Tensor(shape: [indices.count, c], data: out)
    }

    public func l2NormalizedRows() -> Tensor {
        let n = shape.last!
        var y = self
        for r in 0..<(count / n) {
            var s: Float = 0
            for j in 0..<n { s += y.data[r * n + j] * y.data[r * n + j] }
            let inv = 1 / max(s.squareRoot(), 1e-12)
            for j in 0..<n { y.data[r * n + j] *= inv }
        }
        return y
    }

    public func dropped(_ dropout: Dropout?) -> Tensor {
        guard let dropout, dropout.probability > 0 else { return self }
        let keep = 1 - dropout.probability
        var y = self
        for i in y.data.indices { y.data[i] *= Float(dropout.random.unit()) < keep ? 1 / keep : 0 }
        return y
    }

    public static func convolution(_ w: Parameters<Tensor>, _ name: String, in inChannels: Int, out outChannels: Int,
                                   kernel: Int, stride: Int, padding: Padding, groups: Int, bias: Bool,
                                   batchNorm: String?, eps: Float) -> Conv2D {
        if w.fresh != nil {
            // Fresh weights (training from scratch): made through the parameters, so the definition's keys are recorded.
            precondition(batchNorm == nil, "fresh weights for a batch-normalized convolution (\(name)) are not made")
            let s = w.scope(name)
            return Conv2D(weight: s("weight", shape: [outChannels, inChannels / groups, kernel, kernel]),
                          bias: bias ? s("bias", shape: [outChannels]) : nil, stride: stride, padding: padding, groups: groups)
        }
        return w.scope.conv(name, in: inChannels, out: outChannels, kernel: kernel, stride: stride, padding: padding,
                     groups: groups, bias: bias, batchNorm: batchNorm, eps: eps)
    }

    public func convolved(_ convolution: Conv2D, activation: Activation?) -> Tensor {
        activation.map { convolution(self, activation: $0) } ?? convolution(self)
    }

    public func maxPooled(kernel: Int, stride: Int, padding: Int) -> Tensor {
        maxPool2D(self, kernel: kernel, stride: stride, padding: padding)
    }

    public func groupNorm(_ weight: Tensor, _ bias: Tensor, groups: Int, eps: Float, activation: Activation?) -> Tensor {
        groupNormalized(weight: weight, bias: bias, groups: groups, eps: eps, activation: activation)
    }

    public func scaled(by scale: Tensor, shift: Tensor?) -> Tensor {
        let (s, t) = (scale.data[0], shift?.data[0] ?? 0)
        var y = self
        y.data.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = p[i] * s + t } }
        return y
    }
}
