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

/// MDETR for inference: a backbone (ResNet, timm EfficientNet or Lite0; BN folded, Winograd) and `MDETRNetwork`.
public final class MDETRModel: @unchecked Sendable {
    public let config: MDETRConfig
    let backbone: any Backbone
    let network: MDETRNetwork<Tensor>

    /// Builds the network from `weights` (a state dict in the official key layout) and checks every key.
    public init(config c: MDETRConfig, weights source: any WeightSource) throws {
        config = c
        let loader = WeightLoader(source: source)
        let w = loader.root
        let ignored: [String]
        (backbone, ignored) = try makeBackbone(c.backbone, weights: w.scope("backbone.0.body"))
        network = MDETRNetwork(config: c, backboneChannels: backbone.outChannels, weights: Parameters(w))
        try loader.finish(ignoringPrefixes: ignored)
    }

    /// The most tokens a caption may have.
    public var maxTokens: Int { config.maxTokens }

    /// Backbone once per image: `image` is the normalized (3, H, W) input.
    public func encodeImage(_ image: Tensor) -> ImageFeatures {
        let features = backbone(image)                       // (C, h, w)
        let h = features.shape[1], w = features.shape[2]
        return ImageFeatures(source: network.imageTokens(features),   // (h·w, D)
                             position: PositionEncoding.sine(height: h, width: w, features: config.hidden / 2),
                             height: h, width: w)
    }

    /// Text encoder + FeatureResizer for one tokenized caption.
    public func encodeText(_ ids: [Int]) -> TextFeatures {
        TextFeatures(tokens: network.resize(network.encodeText(ids)))   // (L, D)
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
        let (memory, layers) = network.transform(image: image.source, position: image.position, text: text.tokens)
        let heads = network.heads(layers[layers.count - 1])                             // on the last layer (Q, D)
        return MDETROutputs(logits: heads.logits, boxes: heads.boxes, projectedQueries: heads.projectedQueries,
                            projectedTokens: network.projectedTokens(memory: memory, tokens: text.tokens.shape[0]))
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
}
