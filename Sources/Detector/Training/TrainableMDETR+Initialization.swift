import Foundation

/// Fresh weights for the parts of MDETR that are not pretrained (everything but the backbone and the text encoder),
/// initialised as the official code does: `Transformer._reset_parameters` (Xavier-uniform for every matrix of the
/// transformer and the resizer, zero biases of attention), PyTorch's defaults elsewhere (Linear/Conv: U(±1/√fan_in)
/// for weight and bias; Embedding: N(0, 1); LayerNorm: 1 and 0).
extension TrainableMDETR {
    /// `featureScale` is the RMS of the backbone's output: `input_proj` starts scaled by its inverse, so projected image
    /// tokens start at the size of the sine position code added to them (an unnormalised backbone, Lite0's last
    /// block has RMS ≈ 2.4, would otherwise drown the positions the attention must learn from).
    public static func freshWeights(config c: MDETRConfig, backboneChannels: Int, seed: UInt64, featureScale: Float = 1) -> [(String, Tensor)] {
        var rng = SplitMix64(seed: seed)
        var out: [(String, Tensor)] = []
        func uniform(_ shape: [Int], bound: Float) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(rng.uniform(-Double(bound), Double(bound))) })
        }
        func xavier(_ shape: [Int]) -> Tensor {
            let fanOut = shape[0], fanIn = shape.dropFirst().reduce(1, *)
            return uniform(shape, bound: (6 / Float(fanIn + fanOut)).squareRoot())
        }
        func normal(_ shape: [Int]) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in
                // Box–Muller.
                let u = max(rng.unit(), 1e-12), v = rng.unit()
                return Float((-2 * Foundation.log(u)).squareRoot() * cos(2 * .pi * v))
            })
        }
        func linear(_ name: String, _ inF: Int, _ outF: Int, xavierWeight: Bool) {
            let bound = 1 / Float(inF).squareRoot()
            out.append((name + ".weight", xavierWeight ? xavier([outF, inF]) : uniform([outF, inF], bound: bound)))
            out.append((name + ".bias", uniform([outF], bound: bound)))
        }
        func norm(_ name: String, _ d: Int) {
            out.append((name + ".weight", Tensor(repeating: 1, shape: [d])))
            out.append((name + ".bias", Tensor(zeros: [d])))
        }
        func attention(_ name: String, _ d: Int) {
            out.append((name + ".in_proj_weight", xavier([3 * d, d])))
            out.append((name + ".in_proj_bias", Tensor(zeros: [3 * d])))
            out.append((name + ".out_proj.weight", xavier([d, d])))
            out.append((name + ".out_proj.bias", Tensor(zeros: [d])))
        }
        let d = c.hidden
        let convBound = 1 / Float(backboneChannels).squareRoot()
        out.append(("input_proj.weight", uniform([d, backboneChannels, 1, 1], bound: convBound / max(featureScale, 1e-3))))
        out.append(("input_proj.bias", uniform([d], bound: convBound)))
        linear("transformer.resizer.fc", c.text.hidden, d, xavierWeight: true)
        norm("transformer.resizer.layer_norm", d)
        for i in 0..<c.encoderLayers {
            let p = "transformer.encoder.layers.\(i)"
            attention(p + ".self_attn", d)
            linear(p + ".linear1", d, c.feedForward, xavierWeight: true)
            linear(p + ".linear2", c.feedForward, d, xavierWeight: true)
            norm(p + ".norm1", d)
            norm(p + ".norm2", d)
        }
        for i in 0..<c.decoderLayers {
            let p = "transformer.decoder.layers.\(i)"
            attention(p + ".self_attn", d)
            attention(p + ".cross_attn_image", d)
            linear(p + ".linear1", d, c.feedForward, xavierWeight: true)
            linear(p + ".linear2", c.feedForward, d, xavierWeight: true)
            norm(p + ".norm1", d)
            norm(p + ".norm3", d)
            norm(p + ".norm4", d)
        }
        norm("transformer.decoder.norm", d)
        out.append(("query_embed.weight", normal([c.queries, d])))
        linear("class_embed", d, c.tokenSlots, xavierWeight: false)
        linear("bbox_embed.layers.0", d, d, xavierWeight: false)
        linear("bbox_embed.layers.1", d, d, xavierWeight: false)
        linear("bbox_embed.layers.2", d, 4, xavierWeight: false)
        if c.contrastiveAlign {
            linear("contrastive_align_projection_image", d, c.contrastiveDim, xavierWeight: false)
            linear("contrastive_align_projection_text", d, c.contrastiveDim, xavierWeight: false)
        }
        return out
    }
}

/// Tensors in memory as a weight source.
public struct InMemoryWeights: WeightSource {
    public let keys: [String]
    let tensors: [String: Tensor]
    public init(_ pairs: [(String, Tensor)]) {
        keys = pairs.map(\.0)
        tensors = Dictionary(pairs, uniquingKeysWith: { a, _ in a })
    }
    public func shape(of key: String) -> [Int]? { tensors[key]?.shape }
    public func tensor(_ key: String) throws -> Tensor {
        guard let t = tensors[key] else { throw WeightsError.missingConfig("no tensor \(key)") }
        return t
    }
}
