/// timm's TF-ported EfficientNets as MDETR uses them (`tf_efficientnet_b3_ns`, `_b5_ns`, features_only, up to the
/// last block stage — no conv_head): TF "SAME" padding on stride-2 convolutions, squeeze-excite, SiLU, and frozen
/// batch-norm with eps 1e-5 (MDETR's FrozenBatchNorm2d, not timm's 1e-3). The block layout is read from the keys
/// (`blocks.{stage}.{block}`); strides follow the EfficientNet stage pattern.
public struct EfficientNet: Backbone {
    struct Block: Sendable {
        var expand: Conv2D?      // conv_pw (IR blocks), BN folded
        var depthwise: Conv2D    // conv_dw, BN folded
        var seReduce: Conv2D
        var seExpand: Conv2D
        var project: Conv2D      // conv_pwl (IR) or conv_pw (DS), BN folded
        var residual: Bool

        func callAsFunction(_ x: Tensor) -> Tensor {
            var y = x
            if let expand { y = expand(y, activation: .silu) }
            y = depthwise(y, activation: .silu)
            // Squeeze-excite: channel gates from the spatial mean.
            let c = y.shape[0]
            let pooled = globalAveragePool(y).reshaped([c, 1, 1])
            let gate = Activation.sigmoid(seExpand(Activation.silu(seReduce(pooled))))
            let n = y.shape[1] * y.shape[2]
            y.data.withUnsafeMutableBufferPointer { p in
                let base = p.baseAddress!
                let parts = partition(c, parts: BLASThreads.workers)
                parallelFor(parts.count) { t in
                    for ch in parts[t] { Vector.scale(base + ch * n, gate.data[ch], n) }
                }
            }
            y = project(y)
            if residual { y.add(x) }
            return y
        }
    }

    /// First-block stride of each of the 7 stages.
    static let stageStrides = [1, 2, 2, 2, 1, 2, 1]

    let stem: Conv2D
    let blocks: [Block]
    public let outChannels: Int
    /// The last blocks of the stages that end at strides 8, 16 and 32 (stages 2, 4 and 6), and their widths.
    let pyramidTaps: [Int]
    public let pyramidChannels: [Int]

    public init(weights w: WeightScope, bnEps: Float = 1e-5) throws {
        let stemShape = w.shape("conv_stem.weight")
        guard stemShape.count == 4 else { throw WeightsError.missingConfig("\(w.key("conv_stem.weight")) not found") }
        let stemOut = stemShape[0]
        stem = w.conv("conv_stem", in: 3, out: stemOut, kernel: 3, stride: 2, padding: .tfSame, batchNorm: "bn1", eps: bnEps)
        var channels = stemOut
        var blocks: [Block] = []
        var taps: [Int] = [], tapChannels: [Int] = []
        for stage in 0..<7 {
            var b = 0
            while w.has("blocks.\(stage).\(b).conv_dw.weight") {
                let s = w.scope("blocks.\(stage).\(b)")
                let stride = b == 0 ? Self.stageStrides[stage] : 1
                let inverted = s.has("conv_pwl.weight")
                var expand: Conv2D?
                var mid = channels
                if inverted {
                    mid = s.shape("conv_pw.weight").first ?? channels
                    expand = s.conv("conv_pw", in: channels, out: mid, kernel: 1, padding: .symmetric(0),
                                    batchNorm: "bn1", eps: bnEps)
                }
                let k = s.shape("conv_dw.weight").last ?? 3
                let depthwise = s.conv("conv_dw", in: mid, out: mid, kernel: k, stride: stride,
                                       padding: stride == 2 ? .tfSame : .symmetric(k / 2), groups: mid,
                                       batchNorm: inverted ? "bn2" : "bn1", eps: bnEps)
                let reduced = s.shape("se.conv_reduce.weight").first ?? 1
                let seReduce = s.scope("se").conv("conv_reduce", in: mid, out: reduced, kernel: 1, padding: .symmetric(0), bias: true)
                let seExpand = s.scope("se").conv("conv_expand", in: reduced, out: mid, kernel: 1, padding: .symmetric(0), bias: true)
                let projName = inverted ? "conv_pwl" : "conv_pw"
                let out = s.shape(projName + ".weight").first ?? mid
                let project = s.conv(projName, in: mid, out: out, kernel: 1, padding: .symmetric(0),
                                     batchNorm: inverted ? "bn3" : "bn2", eps: bnEps)
                blocks.append(Block(expand: expand, depthwise: depthwise, seReduce: seReduce, seExpand: seExpand,
                                    project: project, residual: stride == 1 && channels == out))
                channels = out
                b += 1
            }
            if [2, 4, 6].contains(stage), b > 0 { taps.append(blocks.count - 1); tapChannels.append(channels) }
        }
        guard !blocks.isEmpty else { throw WeightsError.missingConfig("no EfficientNet blocks under \(w.prefix)") }
        guard taps.count == 3 else { throw WeightsError.missingConfig("EfficientNet under \(w.prefix) lacks stage 2, 4 or 6") }
        self.blocks = blocks
        outChannels = channels
        pyramidTaps = taps
        pyramidChannels = tapChannels
    }

    public func callAsFunction(_ image: Tensor) -> Tensor {
        var x = stem(image, activation: .silu)
        for block in blocks { x = block(x) }
        return x
    }

    public func pyramid(_ image: Tensor) -> [Tensor] {
        var x = stem(image, activation: .silu)
        var levels: [Tensor] = []
        for (i, block) in blocks.enumerated() {
            x = block(x)
            if pyramidTaps.contains(i) { levels.append(x) }
        }
        return levels
    }
}
