/// torchvision ResNet up to `layer4` (BasicBlock or Bottleneck, stride on the 3×3), frozen batch-norm (eps 1e-5):
/// folded into the convolutions for inference, a constant affine for training.
/// Keys: `conv1`, `bn1`, `layer{1-4}.{b}.conv{1,2,3}`, `bn{1,2,3}`, `downsample.{0,1}` under the given scope
/// (`backbone.0.body` in MDETR checkpoints).
public struct ResNet<Value: NetworkValue> {
    struct Block {
        var convs: [Value.Convolution]   // 2 (basic) or 3 (bottleneck)
        var downsample: Value.Convolution?

        func callAsFunction(_ x: Value) -> Value {
            var y = x
            for (i, conv) in convs.enumerated() { y = y.convolved(conv, activation: i < convs.count - 1 ? .relu : nil) }
            return y.adding(downsample.map { x.convolved($0, activation: nil) } ?? x, activation: .relu)
        }
    }

    let stem: Value.Convolution      // 7×7/2
    let layers: [[Block]]
    public let outChannels: Int
    /// Widths of layer2, layer3 and layer4 (strides 8, 16, 32).
    public let pyramidChannels: [Int]

    /// The layout (blocks per stage, widths, basic or bottleneck) is read from the weights, so ResNet-18/34/50/101 and
    /// narrower test networks with the same structure all load.
    public init(weights w: Parameters<Value>) throws {
        let stemShape = w.scope.shape("conv1.weight")
        guard stemShape.count == 4 else { throw WeightsError.missingConfig("\(w.scope.key("conv1.weight")) not found") }
        stem = w.conv("conv1", in: 3, out: stemShape[0], kernel: 7, stride: 2, padding: .symmetric(3), batchNorm: "bn1")
        var inChannels = stemShape[0]
        var layers: [[Block]] = []
        var widths: [Int] = []
        for stage in 0..<4 {
            var blocks: [Block] = []
            var b = 0
            while w.has("layer\(stage + 1).\(b).conv1.weight") {
                let s = w.scope("layer\(stage + 1).\(b)")
                let stride = (b == 0 && stage > 0) ? 2 : 1
                let planes = s.scope.shape("conv1.weight").first ?? 0
                let bottleneck = s.has("conv3.weight")
                let out = s.scope.shape(bottleneck ? "conv3.weight" : "conv2.weight").first ?? 0
                let convs: [Value.Convolution]
                if bottleneck {
                    convs = [
                        s.conv("conv1", in: inChannels, out: planes, kernel: 1, padding: .symmetric(0), batchNorm: "bn1"),
                        s.conv("conv2", in: planes, out: planes, kernel: 3, stride: stride, padding: .symmetric(1), batchNorm: "bn2"),
                        s.conv("conv3", in: planes, out: out, kernel: 1, padding: .symmetric(0), batchNorm: "bn3"),
                    ]
                } else {
                    convs = [
                        s.conv("conv1", in: inChannels, out: planes, kernel: 3, stride: stride, padding: .symmetric(1), batchNorm: "bn1"),
                        s.conv("conv2", in: planes, out: out, kernel: 3, padding: .symmetric(1), batchNorm: "bn2"),
                    ]
                }
                let downsample = s.has("downsample.0.weight")
                    ? s.scope("downsample").conv("0", in: inChannels, out: out, kernel: 1, stride: stride,
                                                 padding: .symmetric(0), batchNorm: "1")
                    : nil
                blocks.append(Block(convs: convs, downsample: downsample))
                inChannels = out
                b += 1
            }
            guard !blocks.isEmpty else { throw WeightsError.missingConfig("\(w.scope.key("layer\(stage + 1)")) has no blocks") }
            layers.append(blocks)
            widths.append(inChannels)
        }
        self.layers = layers
        outChannels = inChannels
        pyramidChannels = Array(widths.dropFirst())
    }

    /// A normalized image (3, H, W) → (C, ⌈H/32⌉, ⌈W/32⌉).
    public func callAsFunction(_ image: Value) -> Value {
        var x = image.convolved(stem, activation: .relu).maxPooled(kernel: 3, stride: 2, padding: 1)
        for stage in layers { for block in stage { x = block(x) } }
        return x
    }

    /// The outputs of layer2, layer3 and layer4.
    public func pyramid(_ image: Value) -> [Value] {
        var x = image.convolved(stem, activation: .relu).maxPooled(kernel: 3, stride: 2, padding: 1)
        var levels: [Value] = []
        for (i, stage) in layers.enumerated() {
            for block in stage { x = block(x) }
            if i > 0 { levels.append(x) }
        }
        return levels
    }
}

// Inference shares one loaded ResNet between threads; its tensors and prepared kernels are never mutated.
extension ResNet: @unchecked Sendable where Value == Tensor {}
extension ResNet: Backbone where Value == Tensor {}
