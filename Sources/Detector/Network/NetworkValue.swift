/// What a network definition computes with. Each network of the Detector is written once, generic over this
/// protocol: `Tensor` runs it for inference (no tape, fused kernels, BLAS reading weights in place) and `Variable`
/// for training (every op records its backward rule). A definition says only what is computed; how fast, and
/// whether gradients flow, is the value type's business.
///
/// Shapes follow the callers: rows are tokens or queries, the last axis features.
public protocol NetworkValue {
    var shape: [Int] { get }
    /// The computed value.
    var tensor: Tensor { get }
    /// An input that no gradient reaches (an image, positions).
    init(constant: Tensor)
    /// A stored parameter under its upstream key; `registry` (training) decides whether it trains and keeps it.
    static func parameter(_ value: Tensor, key: String, registry: ParameterRegistry?) -> Self

    static func + (a: Self, b: Self) -> Self
    /// self + other, then `activation`: a residual join. Consuming, so `Tensor` adds into its own storage (a ResNet's
    /// early maps are tens of megabytes; a fresh sum and a fresh activation per block cost 7 % of R101's backbone).
    consuming func adding(_ other: Self, activation: Activation?) -> Self
    /// self (N, in) · W[rows]ᵀ + b[rows], then `activation`; W stored (out, in). `rows` takes one block of a packed
    /// weight (q, k or v of `in_proj_weight`) without copying it.
    func linear(_ weight: Self, _ bias: Self?, rows: Range<Int>?, activation: Activation?) -> Self
    /// LayerNorm(self + residual) over the last axis.
    func layerNorm(_ weight: Self, _ bias: Self, eps: Float, adding residual: Self?) -> Self
    /// softmax(q kᵀ/√d) v per head: q (Lq, E), k and v (Lk, E); mask true = ignore that key.
    static func attention(q: Self, k: Self, v: Self, heads: Int, keyPaddingMask: [Bool]?) -> Self
    func activated(_ activation: Activation) -> Self
    func reshaped(_ shape: [Int]) -> Self
    func transposed() -> Self
    func slice(rows: Range<Int>) -> Self
    static func concat(rows: [Self]) -> Self
    /// Rows `indices` (an embedding lookup).
    func gather(rows indices: [Int]) -> Self
    /// Rows scaled to unit length (`F.normalize`, eps 1e-12).
    func l2NormalizedRows() -> Self
    /// Inverted dropout when `dropout` is given (training); the value itself otherwise.
    func dropped(_ dropout: Dropout?) -> Self

    /// A convolution as this value type runs it: for `Tensor` with its frozen batch norm folded in and the kernel
    /// prepared (Winograd, packed weights); for `Variable` the weight as a parameter and the batch norm as a constant
    /// per-channel affine (MDETR freezes every batch norm).
    associatedtype Convolution
    /// `name`'s weight (out, in/groups, k, k) and optional bias, then frozen batch norm `batchNorm` (eps).
    static func convolution(_ w: Parameters<Self>, _ name: String, in: Int, out: Int, kernel: Int, stride: Int,
                            padding: Padding, groups: Int, bias: Bool, batchNorm: String?, eps: Float) -> Convolution
    /// Image (C, H, W) → (O, H', W'), then `activation`.
    func convolved(_ convolution: Convolution, activation: Activation?) -> Self
    /// `nn.MaxPool2d` (k×k, stride, symmetric padding that never wins).
    func maxPooled(kernel: Int, stride: Int, padding: Int) -> Self

    /// `nn.GroupNorm(groups, C)` over (C, H, W), then `activation`.
    func groupNorm(_ weight: Self, _ bias: Self, groups: Int, eps: Float, activation: Activation?) -> Self
    /// (C, H, W) → (C, Ho, Wo) as `F.interpolate(size=(Ho, Wo), mode="nearest")`.
    func upsampledNearest(height: Int, width: Int) -> Self
    /// torchvision's `deform_conv2d`: (C, H, W) with `offsets` (2·k·k, Ho, Wo), weight (O, C, k, k) → (O, Ho, Wo).
    func deformableConvolved(offsets: Self, weight: Self, bias: Self?, stride: Int, padding: Int) -> Self
    /// self · scale + shift, both one element (a level's learned scale, a logit's temperature and bias).
    func scaled(by scale: Self, shift: Self?) -> Self
}

/// Dropout for a training forward: the probability and the random stream every dropped tensor draws from.
public final class Dropout {
    public let probability: Float
    public var random: SplitMix64
    public init(probability: Float, random: SplitMix64) {
        self.probability = probability
        self.random = random
    }
}

extension NetworkValue {
    func linear(_ weight: Self, _ bias: Self?, activation: Activation? = nil) -> Self {
        linear(weight, bias, rows: nil, activation: activation)
    }
}

extension Parameters {
    func conv(_ name: String, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding,
              groups: Int = 1, bias: Bool = false, batchNorm: String? = nil, eps: Float = 1e-5) -> Value.Convolution {
        Value.convolution(self, name, in: inChannels, out: outChannels, kernel: kernel, stride: stride, padding: padding,
                          groups: groups, bias: bias, batchNorm: batchNorm, eps: eps)
    }
}
