/// MDETR's cross-modal transformer: post-norm encoder over [image tokens, text tokens] (text gets zero position),
/// post-norm decoder whose cross-attention sees the whole encoder output, `decoder.norm` after every layer.
/// Keys as in `transformer.encoder.layers.{i}` / `transformer.decoder.layers.{i}` (cross_attn_image, norm1/3/4).
public struct CrossModalTransformer: Sendable {
    struct EncoderLayer: Sendable {
        var selfAttention: MultiheadAttention
        var linear1: Linear, linear2: Linear
        var norm1: LayerNorm, norm2: LayerNorm

        func callAsFunction(_ x: Tensor, pos: Tensor, mask: [Bool]) -> Tensor {
            let qk = x + pos
            var y = norm1(x, adding: selfAttention(query: qk, key: qk, value: x, keyPaddingMask: mask))
            y = norm2(y, adding: linear2(linear1(y, activation: .relu)))
            return y
        }
    }

    struct DecoderLayer: Sendable {
        var selfAttention: MultiheadAttention
        var crossAttention: MultiheadAttention
        var linear1: Linear, linear2: Linear
        var norm1: LayerNorm, norm3: LayerNorm, norm4: LayerNorm

        func callAsFunction(_ t: Tensor, queryPos: Tensor, memory: Tensor, memoryKeys: Tensor, mask: [Bool]) -> Tensor {
            let qk = t + queryPos
            var y = norm1(t, adding: selfAttention(query: qk, key: qk, value: t))
            y = norm3(y, adding: crossAttention(query: y + queryPos, key: memoryKeys, value: memory, keyPaddingMask: mask))
            y = norm4(y, adding: linear2(linear1(y, activation: .relu)))
            return y
        }
    }

    let encoder: [EncoderLayer]
    let decoder: [DecoderLayer]
    let decoderNorm: LayerNorm

    static func attention(_ w: WeightScope, _ name: String, dim: Int, heads: Int) -> MultiheadAttention {
        let s = w.scope(name)
        return MultiheadAttention(inProjWeight: s.tensor("in_proj_weight", shape: [3 * dim, dim]),
                                  inProjBias: s.tensor("in_proj_bias", shape: [3 * dim]),
                                  outProj: s.linear("out_proj", in: dim, out: dim), heads: heads)
    }

    public init(config c: MDETRConfig, weights w: WeightScope) {
        let d = c.hidden
        encoder = (0..<c.encoderLayers).map { i in
            let l = w.scope("encoder.layers.\(i)")
            return EncoderLayer(selfAttention: Self.attention(l, "self_attn", dim: d, heads: c.heads),
                                linear1: l.linear("linear1", in: d, out: c.feedForward),
                                linear2: l.linear("linear2", in: c.feedForward, out: d),
                                norm1: l.layerNorm("norm1", dim: d, eps: 1e-5), norm2: l.layerNorm("norm2", dim: d, eps: 1e-5))
        }
        decoder = (0..<c.decoderLayers).map { i in
            let l = w.scope("decoder.layers.\(i)")
            return DecoderLayer(selfAttention: Self.attention(l, "self_attn", dim: d, heads: c.heads),
                                crossAttention: Self.attention(l, "cross_attn_image", dim: d, heads: c.heads),
                                linear1: l.linear("linear1", in: d, out: c.feedForward),
                                linear2: l.linear("linear2", in: c.feedForward, out: d),
                                norm1: l.layerNorm("norm1", dim: d, eps: 1e-5), norm3: l.layerNorm("norm3", dim: d, eps: 1e-5),
                                norm4: l.layerNorm("norm4", dim: d, eps: 1e-5))
        }
        decoderNorm = w.layerNorm("decoder.norm", dim: d, eps: 1e-5)
    }

    /// The encoder over `src` (S, D) with positions `pos` (S, D) and key-padding `mask` (S): the memory (S, D).
    func encode(_ src: Tensor, pos: Tensor, mask: [Bool]) -> Tensor {
        var x = src
        for layer in encoder { x = layer(x, pos: pos, mask: mask) }
        return x
    }

    /// The decoder: every layer's output after `decoder.norm`, (layers) × (Q, D).
    func decode(memory: Tensor, pos: Tensor, mask: [Bool], queryPos: Tensor) -> [Tensor] {
        var t = Tensor(zeros: queryPos.shape)
        let keys = memory + pos
        var outputs: [Tensor] = []
        for layer in decoder {
            t = layer(t, queryPos: queryPos, memory: memory, memoryKeys: keys, mask: mask)
            outputs.append(decoderNorm(t))
        }
        return outputs
    }
}
