import Foundation

/// Fresh weights for the parts of MDETR that are not pretrained (everything but the backbone and the text encoder),
/// initialised as the official code does: `Transformer._reset_parameters` (Xavier-uniform for every matrix of the
/// transformer and the resizer, zero biases of attention), PyTorch's defaults elsewhere (Linear/Conv: U(±1/√fan_in)
/// for weight and bias; Embedding: N(0, 1); LayerNorm: 1 and 0). The keys and shapes are those `MDETRNetwork` asks
/// for as it is built — the network's one definition — so no list of keys is kept here.
extension TrainableMDETR {
    /// `featureScale` is the RMS of the backbone's output: `input_proj` starts scaled by its inverse, so projected image
    /// tokens start at the size of the sine position code added to them (an unnormalised backbone, Lite0's last
    /// block has RMS ≈ 2.4, would otherwise drown the positions the attention must learn from).
    public static func freshWeights(config c: MDETRConfig, backboneChannels: Int, seed: UInt64, featureScale: Float = 1) -> [(String, Tensor)] {
        let fresh = FreshParameters(seed: seed) { fresh, key, shape in fresh.mdetr(key, shape: shape, featureScale: featureScale) }
        _ = MDETRNetwork<Tensor>(config: c, backboneChannels: backboneChannels, weights: Parameters(initializing: fresh))
        return fresh.made.filter { !$0.0.hasPrefix("transformer.text_encoder.") }
    }
}

/// Makes each parameter a network definition asks for from its key and shape, by a network's initialisation rule,
/// remembering them in the order asked.
final class FreshParameters {
    private var rng: SplitMix64
    private(set) var made: [(String, Tensor)] = []
    /// Each module's weight fan-in, for its bias (PyTorch bounds a bias by its weight's fan-in).
    private var fanIn: [String: Int] = [:]
    private let rule: (FreshParameters, String, [Int]) -> Tensor

    init(seed: UInt64, rule: @escaping (FreshParameters, String, [Int]) -> Tensor) {
        rng = SplitMix64(seed: seed)
        self.rule = rule
    }

    func make(_ key: String, shape: [Int]) -> Tensor {
        let t = rule(self, key, shape)
        made.append((key, t))
        return t
    }

    /// MDETR's rules (see `TrainableMDETR.freshWeights`).
    func mdetr(_ key: String, shape: [Int], featureScale: Float) -> Tensor {
        let parts = key.split(separator: ".")
        let module = parts.dropLast().joined(separator: "."), leaf = parts.last ?? ""
        let owner = parts.dropLast().last ?? ""   // the module's own name: norm1, LayerNorm, layer_norm …
        let t: Tensor
        if owner.hasPrefix("norm") || owner == "LayerNorm" || owner == "layer_norm" {
            t = leaf == "weight" ? Tensor(repeating: 1, shape: shape) : Tensor(zeros: shape)
        } else if leaf == "in_proj_bias" || (module.hasSuffix("out_proj") && leaf == "bias") {
            t = Tensor(zeros: shape)
        } else if key == "query_embed.weight" || module.hasSuffix("embeddings") {
            t = normal(shape)
        } else if shape.count >= 2 {
            let inputs = shape.dropFirst().reduce(1, *)
            fanIn[module] = inputs
            if key.hasPrefix("transformer.") {
                t = xavier(shape)
            } else {
                let scale: Float = key == "input_proj.weight" ? 1 / max(featureScale, 1e-3) : 1
                t = uniform(shape, bound: scale / Float(inputs).squareRoot())
            }
        } else {
            t = uniform(shape, bound: 1 / Float(fanIn[module] ?? shape[0]).squareRoot())
        }
        return t
    }

    func uniform(_ shape: [Int], bound: Float) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(rng.uniform(-Double(bound), Double(bound))) })
    }

    func xavier(_ shape: [Int]) -> Tensor {
        let fanOut = shape[0], fanIn = shape.dropFirst().reduce(1, *)
        return uniform(shape, bound: (6 / Float(fanIn + fanOut)).squareRoot())
    }

    func normal(_ shape: [Int], std: Float = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in
            // Box–Muller.
            let u = max(rng.unit(), 1e-12), v = rng.unit()
            return Float((-2 * Foundation.log(u)).squareRoot() * cos(2 * .pi * v)) * std
        })
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
