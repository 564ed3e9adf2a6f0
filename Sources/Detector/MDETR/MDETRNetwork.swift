/// MDETR after the backbone, as the official `models/mdetr.py` builds it, defined once for inference (`Tensor`) and
/// training (`Variable`): input_proj → [image tokens, resized text tokens] → encoder → decoder with learned queries
/// → class_embed / bbox_embed / contrastive projections.
///
/// Shapes: C backbone channels, h×w feature map, D model width, L text tokens, Ht text width, Q queries.
public struct MDETRNetwork<Value: NetworkValue> {
    public let config: MDETRConfig
    let inputProjection: (weight: Value, bias: Value)   // (D, C, 1, 1), (D)
    let textEncoder: TextEncoder<Value>
    let resizer: Linear<Value>                          // Ht → D
    let resizerNorm: LayerNorm<Value>                   // eps 1e-12
    let transformer: CrossModalTransformer<Value>
    let queryEmbed: Value                               // (Q, D)
    let classEmbed: Linear<Value>                       // D → 256
    let bboxEmbed: [Linear<Value>]                      // D → D → D → 4
    let alignImage: Linear<Value>?                      // D → 64
    let alignText: Linear<Value>?                       // D → 64

    /// What the heads read off one decoder layer's output.
    public struct Heads {
        public var logits: Value              // (Q, 256) soft-token logits, slot 255 = no-object
        public var boxes: Value               // (Q, 4) sigmoid (cx, cy, w, h)
        public var projectedQueries: Value?   // (Q, 64) unit rows
    }

    /// Every key but the backbone's, from `w` (the whole state dict's root); `backboneChannels` C.
    public init(config c: MDETRConfig, backboneChannels: Int, weights w: Parameters<Value>) {
        config = c
        let d = c.hidden
        inputProjection = (w("input_proj.weight", shape: [d, backboneChannels, 1, 1]), w("input_proj.bias", shape: [d]))
        textEncoder = TextEncoder(config: c.text, weights: w.scope("transformer.text_encoder"))
        resizer = w.linear("transformer.resizer.fc", in: c.text.hidden, out: d)
        resizerNorm = w.layerNorm("transformer.resizer.layer_norm", dim: d, eps: 1e-12)
        transformer = CrossModalTransformer(config: c, weights: w.scope("transformer"))
        queryEmbed = w("query_embed.weight", shape: [c.queries, d])
        classEmbed = w.linear("class_embed", in: d, out: c.tokenSlots)
        bboxEmbed = (0..<3).map { w.linear("bbox_embed.layers.\($0)", in: d, out: $0 < 2 ? d : 4) }
        alignImage = c.contrastiveAlign ? w.linear("contrastive_align_projection_image", in: d, out: c.contrastiveDim) : nil
        alignText = c.contrastiveAlign ? w.linear("contrastive_align_projection_text", in: d, out: c.contrastiveDim) : nil
    }

    /// input_proj (a 1×1 convolution) on the backbone's map (C, h, w), as tokens (h·w, D).
    func imageTokens(_ features: Value) -> Value {
        let c = features.shape[0], h = features.shape[1], w = features.shape[2]
        let tokens = features.reshaped([c, h * w]).transposed()                                   // (h·w, C)
        return tokens.linear(inputProjection.weight.reshaped([config.hidden, c]), inputProjection.bias)
    }

    /// The text encoder's `last_hidden_state` (L, Ht).
    func encodeText(_ ids: [Int], dropout: Dropout? = nil) -> Value { textEncoder(ids, dropout: dropout) }

    /// FeatureResizer: (L, Ht) → (L, D).
    func resize(_ hidden: Value, dropout: Dropout? = nil) -> Value { resizerNorm(resizer(hidden)).dropped(dropout) }

    /// Encoder over [image tokens (h·w, D), text (L, D)] (text gets zero position; one image, nothing padded), then
    /// the decoder: the memory (h·w + L, D) and every decoder layer's output (Q, D).
    func transform(image: Value, position: Tensor, text: Value, dropout: Dropout? = nil) -> (memory: Value, layers: [Value]) {
        let l = text.shape[0], d = config.hidden
        let source = Value.concat(rows: [image, text])                                               // (h·w + L, D)
        let pos = Value(constant: Tensor.concat(rows: [position, Tensor(zeros: [l, d])]))
        let memory = transformer.encode(source, pos: pos, mask: nil, dropout: dropout)
        let layers = transformer.decode(memory: memory, pos: pos, mask: nil, queryPos: queryEmbed, dropout: dropout)
        return (memory, layers)
    }

    /// The heads on one decoder layer's output (Q, D).
    func heads(_ hs: Value) -> Heads {
        var b = bboxEmbed[0](hs, activation: .relu)
        b = bboxEmbed[1](b, activation: .relu)
        return Heads(logits: classEmbed(hs), boxes: bboxEmbed[2](b, activation: .sigmoid),
                     projectedQueries: alignImage.map { $0(hs).l2NormalizedRows() })
    }

    /// The encoder's text tokens (the last L rows of the memory) projected for contrastive alignment.
    func projectedTokens(memory: Value, tokens l: Int) -> Value? {
        alignText.map { $0(memory.slice(rows: (memory.shape[0] - l)..<memory.shape[0])).l2NormalizedRows() }
    }
}

extension MDETRNetwork: Sendable where Value: Sendable {}
