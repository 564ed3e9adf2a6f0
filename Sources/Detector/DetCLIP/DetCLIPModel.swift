import Foundation

/// DetCLIPv2 for inference: a backbone (C3–C5), the text encoder, and `DetCLIPNetwork<Tensor>`, loaded through the
/// strict loader. Keys: `backbone.*` (the backbone's own names), `text_encoder.*` (HuggingFace BERT names), and the
/// network's (`neck.*`, `bbox_head.*`, `concept_projection.*`, `logit_scale`, `logit_bias`).
public final class DetCLIPModel: @unchecked Sendable {
    public let config: DetCLIPConfig
    public let backbone: any Backbone
    public let network: DetCLIPNetwork<Tensor>
    let concepts: ConceptEncoder

    public init(config c: DetCLIPConfig, weights source: any WeightSource, tokenizer: any Tokenizer) throws {
        try c.validate()
        config = c
        let loader = WeightLoader(source: source)
        let w = loader.root
        let headKeys: [String]
        (backbone, headKeys) = try makeBackbone(c.backbone, weights: w.scope("backbone"))
        let ignored = headKeys + ["text_encoder.pooler.", "text_encoder.embeddings.position_ids"]
        guard backbone.pyramidChannels == c.backboneChannels else {
            throw WeightsError.missingConfig("backbone \(c.backbone) gives C3–C5 of \(backbone.pyramidChannels) channels, the model expects \(c.backboneChannels)")
        }
        network = DetCLIPNetwork(weights: Parameters(w), config: c)
        concepts = ConceptEncoder(encoder: TextEncoder(config: c.text, weights: Parameters(w.scope("text_encoder"))), tokenizer: tokenizer)
        try loader.finish(ignoringPrefixes: ignored)
    }

    /// Unit concept embeddings (K, d_align) of concept texts.
    public func encodeConcepts(_ texts: [String]) -> Tensor {
        texts.isEmpty ? Tensor(zeros: [0, config.alignDim]) : network.concepts(concepts.pooled(texts))
    }

    /// One image pass: every location's unit region embedding (N, d_align), centerness logit and box in input
    /// pixels, finest level first.
    public struct Regions: Sendable {
        public var embeddings: Tensor
        public var centerness: [Float]
        public var boxes: [Box]
    }

    /// A normalized image (3, H, W) → its regions.
    public func regions(_ image: Tensor) -> Regions {
        let levels = network.levels(backbone.pyramid(image))
        return Regions(embeddings: Tensor.concat(rows: levels.map(\.regions)).l2NormalizedRows(),
                       centerness: levels.flatMap(\.centerness.data),
                       boxes: DetCLIPNetwork<Tensor>.boxes(levels.map(\.distances), strides: config.strides))
    }

    /// Logits (rows, K) of some regions against unit concepts (the network's own scoring).
    func logits(_ regions: Tensor, concepts: Tensor) -> Tensor { network.logits(regions: regions, concepts: concepts) }
}
