/// Hyper-parameters of a BERT-family (BERT, MiniLM) or RoBERTa-family (roberta-base, distilroberta-base) encoder.
public struct TextEncoderConfig: Sendable, Equatable, Codable {
    public enum Family: String, Sendable, Codable { case bert, roberta }
    public var family: Family
    public var vocabSize: Int
    public var hidden: Int
    public var layers: Int
    public var heads: Int
    public var intermediate: Int
    public var layerNormEps: Float
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var padTokenID: Int

    public init(family: Family, vocabSize: Int, hidden: Int, layers: Int, heads: Int, intermediate: Int,
                layerNormEps: Float, maxPositions: Int, typeVocabSize: Int, padTokenID: Int) {
        self.family = family
        self.vocabSize = vocabSize
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.intermediate = intermediate
        self.layerNormEps = layerNormEps
        self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize
        self.padTokenID = padTokenID
    }

    public static let robertaBase = TextEncoderConfig(family: .roberta, vocabSize: 50265, hidden: 768, layers: 12,
                                                      heads: 12, intermediate: 3072, layerNormEps: 1e-5,
                                                      maxPositions: 514, typeVocabSize: 1, padTokenID: 1)
    public static let distilrobertaBase = TextEncoderConfig(family: .roberta, vocabSize: 50265, hidden: 768, layers: 6,
                                                            heads: 12, intermediate: 3072, layerNormEps: 1e-5,
                                                            maxPositions: 514, typeVocabSize: 1, padTokenID: 1)
    public static let miniLML6 = TextEncoderConfig(family: .bert, vocabSize: 30522, hidden: 384, layers: 6, heads: 12,
                                                   intermediate: 1536, layerNormEps: 1e-12, maxPositions: 512,
                                                   typeVocabSize: 2, padTokenID: 0)

    /// The longest token sequence the position table allows (RoBERTa reserves positions 0 and 1).
    public var maxTokens: Int { family == .roberta ? maxPositions - padTokenID - 1 : maxPositions }
}

/// A post-norm transformer text encoder with HuggingFace `BertModel`/`RobertaModel` key names. Returns
/// `last_hidden_state` for one unpadded token sequence.
public struct TextEncoder: Sendable {
    struct Layer: Sendable {
        var query: Linear, key: Linear, value: Linear
        var attentionOutput: Linear
        var attentionNorm: LayerNorm
        var intermediate: Linear
        var output: Linear
        var outputNorm: LayerNorm
    }

    public let config: TextEncoderConfig
    let wordEmbeddings: Tensor       // (V, H)
    let positionEmbeddings: Tensor   // (P, H)
    let tokenTypeEmbeddings: Tensor  // (T, H)
    let embeddingNorm: LayerNorm
    let layers: [Layer]
    let pooler: Linear?

    public init(config c: TextEncoderConfig, weights w: WeightScope) {
        config = c
        let e = w.scope("embeddings")
        wordEmbeddings = e.tensor("word_embeddings.weight", shape: [c.vocabSize, c.hidden])
        positionEmbeddings = e.tensor("position_embeddings.weight", shape: [c.maxPositions, c.hidden])
        tokenTypeEmbeddings = e.tensor("token_type_embeddings.weight", shape: [c.typeVocabSize, c.hidden])
        embeddingNorm = e.layerNorm("LayerNorm", dim: c.hidden, eps: c.layerNormEps)
        layers = (0..<c.layers).map { i in
            let l = w.scope("encoder.layer.\(i)")
            return Layer(query: l.linear("attention.self.query", in: c.hidden, out: c.hidden),
                         key: l.linear("attention.self.key", in: c.hidden, out: c.hidden),
                         value: l.linear("attention.self.value", in: c.hidden, out: c.hidden),
                         attentionOutput: l.linear("attention.output.dense", in: c.hidden, out: c.hidden),
                         attentionNorm: l.layerNorm("attention.output.LayerNorm", dim: c.hidden, eps: c.layerNormEps),
                         intermediate: l.linear("intermediate.dense", in: c.hidden, out: c.intermediate),
                         output: l.linear("output.dense", in: c.intermediate, out: c.hidden),
                         outputNorm: l.layerNorm("output.LayerNorm", dim: c.hidden, eps: c.layerNormEps))
        }
        // The pooler is in every checkpoint; MDETR does not use it (only the optional global contrastive loss did).
        pooler = w.has("pooler.dense.weight") ? w.linear("pooler.dense", in: c.hidden, out: c.hidden) : nil
    }

    /// `last_hidden_state` (L, H) for token ids of one sequence (no padding: every token attends to every token).
    public func callAsFunction(_ ids: [Int]) -> Tensor {
        let c = config, l = ids.count
        precondition(l <= c.maxTokens, "\(l) tokens exceed the encoder's \(c.maxTokens)")
        var x = [Float](repeating: 0, count: l * c.hidden)
        for (t, id) in ids.enumerated() {
            precondition(id >= 0 && id < c.vocabSize, "token id \(id) outside the vocabulary")
            // RoBERTa numbers positions from padding_idx + 1; BERT from 0. Token type is always 0.
            let position = c.family == .roberta ? c.padTokenID + 1 + t : t
            for j in 0..<c.hidden {
                x[t * c.hidden + j] = wordEmbeddings.data[id * c.hidden + j]
                    + positionEmbeddings.data[position * c.hidden + j] + tokenTypeEmbeddings.data[j]
            }
        }
        var h = embeddingNorm(Tensor(shape: [l, c.hidden], data: x))   // (L, H)
        for layer in layers {
            let context = MultiheadAttention.attend(q: layer.query(h), k: layer.key(h), v: layer.value(h),
                                                    heads: c.heads, keyPaddingMask: nil)
            h = layer.attentionNorm(layer.attentionOutput(context), adding: h)
            let f = layer.output(layer.intermediate(h, activation: .gelu))
            h = layer.outputNorm(f, adding: h)
        }
        return h
    }
}
