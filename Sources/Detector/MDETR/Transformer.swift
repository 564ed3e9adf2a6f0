/// MDETR's cross-modal transformer: post-norm encoder over [image tokens, text tokens] (text gets zero position),
/// post-norm decoder whose cross-attention sees the whole encoder output, `decoder.norm` after every layer.
/// Keys as in `transformer.encoder.layers.{i}` / `transformer.decoder.layers.{i}` (cross_attn_image, norm1/3/4).
/// Dropout (training) where `transformer.py` has it: after each attention and inside and after the feed-forward.
public struct CrossModalTransformer<Value: NetworkValue> {
    struct EncoderLayer {
        var selfAttention: MultiheadAttention<Value>
        var linear1: Linear<Value>, linear2: Linear<Value>
        var norm1: LayerNorm<Value>, norm2: LayerNorm<Value>

        func callAsFunction(_ x: Value, pos: Value, mask: [Bool]?, dropout: Dropout?) -> Value {
            let qk = x + pos
            var y = norm1(selfAttention(query: qk, key: qk, value: x, keyPaddingMask: mask).dropped(dropout), adding: x)
            y = norm2(linear2(linear1(y, activation: .relu).dropped(dropout)).dropped(dropout), adding: y)
            return y
        }
    }

    struct DecoderLayer {
        var selfAttention: MultiheadAttention<Value>
        var crossAttention: MultiheadAttention<Value>
        var linear1: Linear<Value>, linear2: Linear<Value>
        var norm1: LayerNorm<Value>, norm3: LayerNorm<Value>, norm4: LayerNorm<Value>

        func callAsFunction(_ t: Value, queryPos: Value, memory: Value, memoryKeys: Value, mask: [Bool]?,
                            dropout: Dropout?) -> Value {
            let qk = t + queryPos
            var y = norm1(selfAttention(query: qk, key: qk, value: t).dropped(dropout), adding: t)
            y = norm3(crossAttention(query: y + queryPos, key: memoryKeys, value: memory, keyPaddingMask: mask).dropped(dropout),
                      adding: y)
            y = norm4(linear2(linear1(y, activation: .relu).dropped(dropout)).dropped(dropout), adding: y)
            return y
        }
    }

    let encoder: [EncoderLayer]
    let decoder: [DecoderLayer]
    let decoderNorm: LayerNorm<Value>

    public init(config c: MDETRConfig, weights w: Parameters<Value>) {
        let d = c.hidden
        encoder = (0..<c.encoderLayers).map { i in
            let l = w.scope("encoder.layers.\(i)")
            return EncoderLayer(selfAttention: l.attention("self_attn", dim: d, heads: c.heads),
                                linear1: l.linear("linear1", in: d, out: c.feedForward),
                                linear2: l.linear("linear2", in: c.feedForward, out: d),
                                norm1: l.layerNorm("norm1", dim: d, eps: 1e-5), norm2: l.layerNorm("norm2", dim: d, eps: 1e-5))
        }
        decoder = (0..<c.decoderLayers).map { i in
            let l = w.scope("decoder.layers.\(i)")
            return DecoderLayer(selfAttention: l.attention("self_attn", dim: d, heads: c.heads),
                                crossAttention: l.attention("cross_attn_image", dim: d, heads: c.heads),
                                linear1: l.linear("linear1", in: d, out: c.feedForward),
                                linear2: l.linear("linear2", in: c.feedForward, out: d),
                                norm1: l.layerNorm("norm1", dim: d, eps: 1e-5), norm3: l.layerNorm("norm3", dim: d, eps: 1e-5),
                                norm4: l.layerNorm("norm4", dim: d, eps: 1e-5))
        }
        decoderNorm = w.layerNorm("decoder.norm", dim: d, eps: 1e-5)
    }

    /// The encoder over `src` (S, D) with positions `pos` (S, D) and key-padding `mask` (S): the memory (S, D).
    func encode(_ src: Value, pos: Value, mask: [Bool]?, dropout: Dropout? = nil) -> Value {
        var x = src
        for layer in encoder { x = layer(x, pos: pos, mask: mask, dropout: dropout) }
        return x
    }

    /// The decoder from zero targets: every layer's output after `decoder.norm`, (layers) × (Q, D).
    func decode(memory: Value, pos: Value, mask: [Bool]?, queryPos: Value, dropout: Dropout? = nil) -> [Value] {
        var t = Value(constant: Tensor(zeros: queryPos.shape))
        let keys = memory + pos
        var outputs: [Value] = []
        for layer in decoder {
            t = layer(t, queryPos: queryPos, memory: memory, memoryKeys: keys, mask: mask, dropout: dropout)
            outputs.append(decoderNorm(t))
        }
        return outputs
    }
}

extension CrossModalTransformer: Sendable where Value: Sendable {}
extension CrossModalTransformer.EncoderLayer: Sendable where Value: Sendable {}
extension CrossModalTransformer.DecoderLayer: Sendable where Value: Sendable {}
