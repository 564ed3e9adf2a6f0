/// `nn.Linear`: y = x · Wᵀ + b, W stored (out, in).
public struct Linear: Sendable {
    public var weight: Tensor   // (out, in)
    public var bias: Tensor?    // (out)

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { BLAS.linear(x, weight: weight, bias: bias) }

    /// The layer followed by `activation`, applied tile by tile as the product is written.
    public func callAsFunction(_ x: Tensor, activation: Activation) -> Tensor {
        BLAS.linear(x, weight: weight, bias: bias, activation: activation)
    }
}
