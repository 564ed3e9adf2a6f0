import Foundation

/// What the backbone and input projection make of one image, reusable for any number of prompts.
public struct ImageFeatures: Sendable {
    public let source: Tensor     // (h·w, D) projected feature tokens, row-major
    public let position: Tensor   // (h·w, D) sine position encoding
    public let height: Int, width: Int
}

/// One caption, encoded: the resized text tokens the transformer consumes.
public struct TextFeatures: Sendable {
    public let tokens: Tensor     // (L, D) after the FeatureResizer
}

/// The raw outputs for one (image, caption) pair, exactly as MDETR emits them (last decoder layer).
public struct MDETROutputs: Sendable {
    public let logits: Tensor             // (Q, 256) soft-token logits, slot 255 = no-object
    public let boxes: Tensor              // (Q, 4) sigmoid (cx, cy, w, h), relative to the un-padded input
    public let projectedQueries: Tensor?  // (Q, 64) L2-normalized
    public let projectedTokens: Tensor?   // (L, 64) L2-normalized
}

/// MDETR as the official `models/mdetr.py` builds it: backbone → input_proj → [image tokens, resized text tokens]
/// → encoder → decoder with learned queries → class_embed / bbox_embed / contrastive projections.
public final class MDETRModel: @unchecked Sendable {
    public let config: MDETRConfig
    let backbone: any Backbone
    let inputProjection: Conv2D          // 1×1, C → D
    let textEncoder: TextEncoder
    let resizer: Linear                  // H_text → D
    let resizerNorm: LayerNorm           // eps 1e-12
    let transformer: CrossModalTransformer
    let queryEmbed: Tensor               // (Q, D)
    let classEmbed: Linear               // D → 256
    let bboxEmbed: [Linear]              // D → D → D → 4
    let alignImage: Linear?              // D → 64
    let alignText: Linear?               // D → 64

    /// Builds the network from `weights` (a state dict in the official key layout) and checks every key.
    public init(config c: MDETRConfig, weights source: any WeightSource) throws {
        config = c
        let loader = WeightLoader(source: source)
        let w = loader.root
        let body = w.scope("backbone.0.body")
        var ignored: [String] = []
        switch c.backbone {
        case let name where name.hasPrefix("resnet"):
            backbone = try ResNet(weights: body)
        case let name where name.hasPrefix("timm_tf_efficientnet"):
            backbone = try EfficientNet(weights: body)
        case "efficientnet_lite0":
            backbone = EfficientNetLite(weights: body)
            ignored = EfficientNetLite.headPrefixes.map { body.key($0) }
        default:
            throw WeightsError.missingConfig("unknown backbone '\(c.backbone)'")
        }
        let d = c.hidden
        inputProjection = w.conv("input_proj", in: backbone.outChannels, out: d, kernel: 1, padding: .symmetric(0), bias: true)
        textEncoder = TextEncoder(config: c.text, weights: w.scope("transformer.text_encoder"))
        resizer = w.linear("transformer.resizer.fc", in: c.text.hidden, out: d)
        resizerNorm = w.layerNorm("transformer.resizer.layer_norm", dim: d, eps: 1e-12)
        transformer = CrossModalTransformer(config: c, weights: w.scope("transformer"))
        queryEmbed = w.tensor("query_embed.weight", shape: [c.queries, d])
        classEmbed = w.linear("class_embed", in: d, out: c.tokenSlots)
        bboxEmbed = [w.linear("bbox_embed.layers.0", in: d, out: d), w.linear("bbox_embed.layers.1", in: d, out: d),
                     w.linear("bbox_embed.layers.2", in: d, out: 4)]
        if c.contrastiveAlign {
            alignImage = w.linear("contrastive_align_projection_image", in: d, out: c.contrastiveDim)
            alignText = w.linear("contrastive_align_projection_text", in: d, out: c.contrastiveDim)
        } else {
            alignImage = nil
            alignText = nil
        }
        try loader.finish(ignoringPrefixes: ignored)
    }

    /// The most tokens a caption may have.
    public var maxTokens: Int { config.maxTokens }

    /// Backbone once per image: `image` is the normalized (3, H, W) input.
    public func encodeImage(_ image: Tensor) -> ImageFeatures {
        let features = backbone(image)                       // (C, h, w)
        let h = features.shape[1], w = features.shape[2]
        let projected = inputProjection(features)            // (D, h, w)
        let source = projected.reshaped([config.hidden, h * w]).transposed()   // (h·w, D)
        return ImageFeatures(source: source, position: PositionEncoding.sine(height: h, width: w, features: config.hidden / 2),
                             height: h, width: w)
    }

    /// Text encoder + FeatureResizer for one tokenized caption.
    public func encodeText(_ ids: [Int]) -> TextFeatures {
        let hidden = textEncoder(ids)                        // (L, H_text)
        return TextFeatures(tokens: resizerNorm(resizer(hidden)))   // (L, D); dropout is identity at inference
    }

    /// `encodeText` for many captions (a vocabulary), one caption per core at a time.
    public func encodeTexts(_ captions: [[Int]]) -> [TextFeatures] {
        var out = [TextFeatures?](repeating: nil, count: captions.count)
        let workers = min(BLASThreads.workers, captions.count)
        out.withUnsafeMutableBufferPointer { out in
            parallelFor(max(1, workers)) { worker in
                BLASThreads.serially {
                    for i in stride(from: worker, to: captions.count, by: max(1, workers)) { out[i] = encodeText(captions[i]) }
                }
            }
        }
        return out.map { $0! }
    }

    /// Encoder + decoder + heads for one (image, caption) pair.
    public func forward(image: ImageFeatures, text: TextFeatures) -> MDETROutputs {
        let l = text.tokens.shape[0], d = config.hidden
        let source = Tensor.concat(rows: [image.source, text.tokens])                  // (h·w + L, D)
        let pos = Tensor.concat(rows: [image.position, Tensor(zeros: [l, d])])         // text has no position
        let mask = [Bool](repeating: false, count: source.shape[0])                    // one image, no padding
        let memory = transformer.encode(source, pos: pos, mask: mask)
        let hs = transformer.decode(memory: memory, pos: pos, mask: mask, queryPos: queryEmbed)
        let last = hs[hs.count - 1]                                                    // (Q, D)
        let logits = classEmbed(last)
        var b = Activation.relu(bboxEmbed[0](last))
        b = Activation.relu(bboxEmbed[1](b))
        let boxes = Activation.sigmoid(bboxEmbed[2](b))
        var projQ: Tensor?, projT: Tensor?
        if let alignImage, let alignText {
            let textMemory = memory.slice(rows: (memory.shape[0] - l)..<memory.shape[0])   // encoder-output text tokens
            projQ = Self.l2Normalized(alignImage(last))
            projT = Self.l2Normalized(alignText(textMemory))
        }
        return MDETROutputs(logits: logits, boxes: boxes, projectedQueries: projQ, projectedTokens: projT)
    }

    /// Encoder + decoder + heads for several captions on one image (a pass of LVIS-style querying); each caption's
    /// outputs equal `forward(image:text:)`'s. The sequences are independent, so they run side by side, one per core,
    /// each core running its sequence's kernels alone: no join after every small kernel.
    public func forward(image: ImageFeatures, texts: [TextFeatures]) -> [MDETROutputs] {
        let workers = min(BLASThreads.workers, texts.count)
        if workers <= 1 { return texts.map { forward(image: image, text: $0) } }
        var outputs = [MDETROutputs?](repeating: nil, count: texts.count)
        outputs.withUnsafeMutableBufferPointer { out in
            parallelFor(workers) { worker in
                BLASThreads.serially {
                    for i in stride(from: worker, to: texts.count, by: workers) {
                        out[i] = forward(image: image, text: texts[i])
                    }
                }
            }
        }
        return outputs.map { $0! }
    }

    /// Rows scaled to unit length (`F.normalize`, eps 1e-12).
    static func l2Normalized(_ x: Tensor) -> Tensor {
        let n = x.shape.last!
        var y = x
        for r in 0..<(x.count / n) {
            var s: Float = 0
            for j in 0..<n { s += y.data[r * n + j] * y.data[r * n + j] }
            let inv = 1 / max(s.squareRoot(), 1e-12)
            for j in 0..<n { y.data[r * n + j] *= inv }
        }
        return y
    }
}
