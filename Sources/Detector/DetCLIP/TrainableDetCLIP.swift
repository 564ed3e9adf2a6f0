import Foundation

/// DetCLIPv2 for training: `DetCLIPNetwork` over `Variable`s — the network inference runs, defined once — loaded
/// through the strict `WeightLoader`. The backbone and the text encoder run frozen through the inference code (their
/// outputs are cached), so their keys (`backbone.`, `text_encoder.`) are not this graph's.
public final class TrainableDetCLIP: TrainableNetwork {
    public let config: DetCLIPConfig
    public let network: DetCLIPNetwork<Variable>
    let registry: ParameterRegistry
    public var parameters: [String: Variable] { registry.parameters }

    public init(config: DetCLIPConfig, weights: any WeightSource) throws {
        try config.validate()
        self.config = config
        registry = ParameterRegistry { _ in true }
        let loader = WeightLoader(source: weights)
        network = DetCLIPNetwork(weights: Parameters(loader.root, registry: registry), config: config)
        try loader.finish(ignoringPrefixes: Self.frozenPrefixes)
    }

    /// Keys of the parts that run frozen through the inference code.
    public static let frozenPrefixes = ["backbone.", "text_encoder."]

    /// Fresh weights for everything but the backbone and the text encoder, as ATSS and DetCLIPv2 start: the head's
    /// convolutions N(0, 0.01) with zero biases (mmdetection's ATSSHead), the deformable convolution's offsets
    /// starting at zero (a plain convolution until they learn), the pyramid and the concept projection
    /// Xavier-uniform, GroupNorm 1 and 0, level scales 1, and the logit bias at the focal-loss prior (π = 0.01) so
    /// the first steps are not swamped by the many negative pairs. Keys and shapes come from `DetCLIPNetwork` itself.
    public static func freshWeights(config c: DetCLIPConfig, seed: UInt64) -> [(String, Tensor)] {
        let fresh = FreshParameters(seed: seed) { fresh, key, shape in
            let leaf = key.split(separator: ".").last ?? ""
            switch key {
            case "logit_scale": return Tensor(repeating: 10, shape: shape)
            case "logit_bias": return Tensor(repeating: -Foundation.log((1 - 0.01) / 0.01), shape: shape)
            case _ where key.contains(".gn."): return Tensor(repeating: leaf == "weight" ? 1 : 0, shape: shape)
            case _ where key.hasPrefix("bbox_head.scales."): return Tensor(repeating: 1, shape: shape)
            case _ where key.hasPrefix("bbox_head.offset_conv."): return Tensor(zeros: shape)
            case _ where leaf == "bias": return Tensor(zeros: shape)
            case _ where key.hasPrefix("bbox_head."): return fresh.normal(shape, std: 0.01)
            default: return fresh.xavier(shape)
            }
        }
        _ = DetCLIPNetwork<Tensor>(weights: Parameters(initializing: fresh), config: c)
        return fresh.made
    }
}
