/// Training: parameters are registered `Variable`s, each op records its backward rule (`Autograd/`).
extension Variable: NetworkValue {
    public var tensor: Tensor { value }

    public convenience init(constant: Tensor) { self.init(constant) }

    public static func parameter(_ value: Tensor, key: String, registry: ParameterRegistry?) -> Variable {
        registry?.register(value, key: key) ?? Variable(value)
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
}
