/// `nn.Linear`: y = x · Wᵀ + b, W stored (out, in).
public struct Linear<Value: NetworkValue> {
    public var weight: Value   // (out, in)
    public var bias: Value?    // (out)

    public init(weight: Value, bias: Value?) {
        self.weight = weight
        self.bias = bias
    }

    public func callAsFunction(_ x: Value) -> Value { x.linear(weight, bias, rows: nil, activation: nil) }

    /// The layer followed by `activation` (for `Tensor`, applied tile by tile as the product is written).
    public func callAsFunction(_ x: Value, activation: Activation) -> Value {
        x.linear(weight, bias, rows: nil, activation: activation)
    }
}

extension Linear: Sendable where Value: Sendable {}

/// LayerNorm over the last axis: (x − mean) / √(var + eps) · γ + β, variance biased, as PyTorch computes it.
public struct LayerNorm<Value: NetworkValue> {
    public var weight: Value   // (E)
    public var bias: Value     // (E)
    public let eps: Float

    public init(weight: Value, bias: Value, eps: Float) {
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    public func callAsFunction(_ x: Value) -> Value { x.layerNorm(weight, bias, eps: eps, adding: nil) }

    /// LayerNorm(x + residual), the post-norm transformer's step (for `Tensor`, one pass over the rows).
    public func callAsFunction(_ x: Value, adding residual: Value) -> Value {
        x.layerNorm(weight, bias, eps: eps, adding: residual)
    }
}

extension LayerNorm: Sendable where Value: Sendable {}
