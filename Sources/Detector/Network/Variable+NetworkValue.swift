/// Training: parameters are registered `Variable`s, each op records its backward rule (`Autograd/`).
extension Variable: NetworkValue {
    public var tensor: Tensor { value }

    public convenience init(constant: Tensor) { self.init(constant) }

    public static func parameter(_ value: Tensor, key: String, registry: ParameterRegistry?) -> Variable {
        registry?.register(value, key: key) ?? Variable(value)
    }

    public consuming func adding(_ other: Variable, activation: Activation?) -> Variable {
        let sum = self + other
        return activation.map { sum.activated($0) } ?? sum
    }

    public func linear(_ weight: Variable, _ bias: Variable?, rows: Range<Int>?, activation: Activation?) -> Variable {
        let y = linear(weight, bias, rows: rows)
        return activation.map { y.activated($0) } ?? y
    }

    public func layerNorm(_ weight: Variable, _ bias: Variable, eps: Float, adding residual: Variable?) -> Variable {
        (residual.map { self + $0 } ?? self).layerNorm(weight, bias, eps: eps)
    }

    public func activated(_ activation: Activation) -> Variable {
        switch activation {
        case .relu: return relu()
        case .relu6: return relu6()
        case .silu: return silu()
        case .gelu: return gelu()
        case .sigmoid: return sigmoid()
        case .tanh: return tanh()
        }
    }

    public func dropped(_ dropout: Dropout?) -> Variable {
        guard let dropout, dropout.probability > 0 else { return self }
        return self.dropout(dropout.probability, using: &dropout.random)
    }

    /// A convolution for training: its weight (and bias) as parameters, a frozen batch norm as constants.
    public struct Convolution {
        var weight: Variable, bias: Variable?
        var stride: Int, padding: Padding, groups: Int
        var affine: (scale: [Float], shift: [Float])?
    }

    public static func convolution(_ w: Parameters<Variable>, _ name: String, in inChannels: Int, out outChannels: Int,
                                   kernel: Int, stride: Int, padding: Padding, groups: Int, bias: Bool,
                                   batchNorm: String?, eps: Float) -> Convolution {
        let s = w.scope(name)
        var affine: (scale: [Float], shift: [Float])?
        if let batchNorm {
            let bn = w.scope(batchNorm)
            let gamma = bn("weight", shape: [outChannels]).value.data, beta = bn("bias", shape: [outChannels]).value.data
            let mean = bn("running_mean", shape: [outChannels]).value.data
            let variance = bn("running_var", shape: [outChannels]).value.data
            let scale = zip(gamma, variance).map { $0 / ($1 + eps).squareRoot() }
            affine = (scale, (0..<outChannels).map { beta[$0] - mean[$0] * scale[$0] })
        }
        return Convolution(weight: s("weight", shape: [outChannels, inChannels / groups, kernel, kernel]),
                           bias: bias ? s("bias", shape: [outChannels]) : nil, stride: stride, padding: padding,
                           groups: groups, affine: affine)
    }

    public func convolved(_ c: Convolution, activation: Activation?) -> Variable {
        var y = conv2d(c.weight, c.bias, stride: c.stride, padding: c.padding, groups: c.groups)
        if let affine = c.affine { y = y.channelAffine(scale: affine.scale, shift: affine.shift) }
        return activation.map { y.activated($0) } ?? y
    }

    public func maxPooled(kernel: Int, stride: Int, padding: Int) -> Variable {
        maxPool2d(kernel: kernel, stride: stride, padding: padding)
    }

    public func groupNorm(_ weight: Variable, _ bias: Variable, groups: Int, eps: Float, activation: Activation?) -> Variable {
        let y = groupNorm(weight, bias, groups: groups, eps: eps)
        return activation.map { y.activated($0) } ?? y
    }

    public func deformableConvolved(offsets: Variable, weight: Variable, bias: Variable?, stride: Int, padding: Int) -> Variable {
        deformableConv2d(offsets: offsets, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
