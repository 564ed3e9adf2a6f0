/// DetCLIPv2 after the backbone and the text encoder, defined once for inference (`Tensor`) and training
/// (`Variable`): the feature pyramid, the region head, the concept projection and the region·concept scores.
///
/// Concepts (DetCLIPv2's concept enrichment: "name, definition") are encoded by the text encoder, mean-pooled over
/// their tokens and projected here to d_align; regions and concepts meet only in `logits`, so a vocabulary of any
/// size costs one image pass and one matrix product.
/// Keys: `neck.*` (FeaturePyramid), `bbox_head.*` (RegionHead), `concept_projection.{weight,bias}`, `logit_scale`,
/// `logit_bias`.
public struct DetCLIPNetwork<Value: NetworkValue> {
    public let config: DetCLIPConfig
    public let neck: FeaturePyramid<Value>
    public let head: RegionHead<Value>
    let conceptProjection: Linear<Value>
    let logitScale: Value, logitBias: Value

    public init(weights w: Parameters<Value>, config c: DetCLIPConfig) {
        config = c
        neck = FeaturePyramid(weights: w.scope("neck"), inChannels: c.backboneChannels, channels: c.channels, levels: c.levels)
        head = RegionHead(weights: w.scope("bbox_head"), config: c)
        conceptProjection = w.linear("concept_projection", in: c.text.hidden, out: c.alignDim)
        logitScale = w("logit_scale", shape: [1])
        logitBias = w("logit_bias", shape: [1])
    }

    /// C3, C4, C5 from the backbone → each level's predictions, finest first.
    public func levels(_ features: [Value]) -> [RegionHead<Value>.Level] {
        neck(features).enumerated().map { head($1, level: $0) }
    }

    /// Pooled text features (K, text hidden) → unit concept embeddings (K, d_align).
    public func concepts(_ pooled: Value) -> Value {
        conceptProjection(pooled).l2NormalizedRows()
    }

    /// Regions (N, d_align) against unit concepts (K, d_align): cosine · scale + bias, (N, K) logits.
    public func logits(regions: Value, concepts: Value) -> Value {
        regions.l2NormalizedRows().linear(concepts, nil).scaled(by: logitScale, shift: logitBias)
    }
}

extension DetCLIPNetwork: Sendable where Value == Tensor {}

extension DetCLIPNetwork {
    /// Every location's box in input pixels from its level's distances (4, H, W): location ∓ distance · stride,
    /// locations as `ATSSAssigner.locations` places them (finest level first, row-major).
    public static func boxes(_ distances: [Tensor], strides: [Int]) -> [Box] {
        let locations = ATSSAssigner.locations(sizes: distances.map { ($0.shape[1], $0.shape[2]) }, strides: strides)
        var out: [Box] = []
        out.reserveCapacity(locations.count)
        for d in distances {
            let n = d.shape[1] * d.shape[2]
            for p in 0..<n {
                let at = locations[out.count]
                out.append(Box(x0: at.x - d.data[p] * at.stride, y0: at.y - d.data[n + p] * at.stride,
                               x1: at.x + d.data[2 * n + p] * at.stride, y1: at.y + d.data[3 * n + p] * at.stride))
            }
        }
        return out
    }
}
