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
/// `last_hidden_state` for one unpadded token sequence. Dropout (training) where HuggingFace has it on hidden
/// states: after the embeddings, the attention output and the feed-forward.
public struct TextEncoder<Value: NetworkValue> {
    struct Layer {
        var query: Linear<Value>, key: Linear<Value>, value: Linear<Value>
        var attentionOutput: Linear<Value>
        var attentionNorm: LayerNorm<Value>
        var intermediate: Linear<Value>
        var output: Linear<Value>
        var outputNorm: LayerNorm<Value>
    }

    public let config: TextEncoderConfig
    let wordEmbeddings: Value        // (V, H)
    let positionEmbeddings: Value    // (P, H)
    let tokenTypeEmbeddings: Value   // (T, H)
    let embeddingNorm: LayerNorm<Value>
    let layers: [Layer]
    let pooler: Linear<Value>?

    public init(config c: TextEncoderConfig, weights w: Parameters<Value>) {
        config = c
        let e = w.scope("embeddings")
        wordEmbeddings = e("word_embeddings.weight", shape: [c.vocabSize, c.hidden])
        positionEmbeddings = e("position_embeddings.weight", shape: [c.maxPositions, c.hidden])
        tokenTypeEmbeddings = e("token_type_embeddings.weight", shape: [c.typeVocabSize, c.hidden])
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
    public func callAsFunction(_ ids: [Int], dropout: Dropout? = nil) -> Value {
        let c = config
        precondition(ids.count <= c.maxTokens, "\(ids.count) tokens exceed the encoder's \(c.maxTokens)")
        for id in ids { precondition(id >= 0 && id < c.vocabSize, "token id \(id) outside the vocabulary") }
        // RoBERTa numbers positions from padding_idx + 1; BERT from 0. Token type is always 0.
        let positions = ids.indices.map { c.family == .roberta ? c.padTokenID + 1 + $0 : $0 }
        let embedded = wordEmbeddings.gather(rows: ids) + positionEmbeddings.gather(rows: positions)
            + tokenTypeEmbeddings.gather(rows: [Int](repeating: 0, count: ids.count))
        var h = embeddingNorm(embedded).dropped(dropout)                                      // (L, H)
        for layer in layers {
            let context = Value.attention(q: layer.query(h), k: layer.key(h), v: layer.value(h), heads: c.heads,
                                          keyPaddingMask: nil)
            h = layer.attentionNorm(layer.attentionOutput(context).dropped(dropout), adding: h)
            let f = layer.output(layer.intermediate(h, activation: .gelu))
            h = layer.outputNorm(f.dropped(dropout), adding: h)
        }
        return h
    }
}

extension TextEncoder: Sendable where Value: Sendable {}
extension TextEncoder.Layer: Sendable where Value: Sendable {}
