import Foundation

/// MDETR for training: `MDETRNetwork` built over `Variable`s — the network inference runs, defined once — loaded
/// through the same strict `WeightLoader` (one error for missing, unexpected and mis-shaped keys). Which parameters
/// train is decided by `trainable(key)` (MDETR freezes every batch norm, and for ResNets conv1 and layer1). A ResNet
/// backbone trains through `resnet(_:)`; other backbones run frozen through the inference code (their features are
/// cached), so their keys are not this graph's.
///
/// Shapes: C backbone channels, h×w feature map, D model width, L text tokens, Q queries, Ht text width.
public final class TrainableMDETR: TrainableNetwork {
    public let config: MDETRConfig
    let network: MDETRNetwork<Variable>
    /// A ResNet backbone (trainable); nil when the backbone runs frozen through the inference code.
    let backbone: ResNet<Variable>?
    let registry: ParameterRegistry
    /// Every tensor of the graph by key (frozen ones too, as constants).
    public var parameters: [String: Variable] { registry.parameters }
    /// Dropout probability in the transformer, resizer and text encoder (MDETR: 0.1; 0 for parity checks).
    public var dropout: Float = 0
    /// Also project the encoder's image tokens into the alignment space (for the criterion's encoder alignment term,
    /// a training aid beyond MDETR; off for MDETR's own objective).
    public var projectsImageTokens = false
    var random = SplitMix64(seed: 42)

    /// `trainable` decides per key (default: `officialTrainable(config)`); buffers and frozen batch norms never train.
    public init(config: MDETRConfig, weights: any WeightSource, trainable: ((String) -> Bool)? = nil) throws {
        self.config = config
        let trains = trainable ?? Self.officialTrainable(config)
        registry = ParameterRegistry { key in
            let isBuffer = key.hasSuffix("running_mean") || key.hasSuffix("running_var") || Self.isFrozenBatchNorm(key)
            return !isBuffer && trains(key)
        }
        let loader = WeightLoader(source: weights)
        let root = Parameters<Variable>(loader.root, registry: registry)
        let channels = loader.shape(of: "input_proj.weight").map { $0.count == 4 ? $0[1] : 0 } ?? 0
        network = MDETRNetwork(config: config, backboneChannels: channels, weights: root)
        backbone = config.backbone.hasPrefix("resnet") ? try ResNet(weights: root.scope("backbone.0.body")) : nil
        try loader.finish(ignoringPrefixes: backbone != nil ? [] : ["backbone."])
    }

    /// MDETR's rule (`backbone.py`): in a ResNet only names containing layer2/3/4 train (the stem and layer1 are
    /// frozen); timm backbones train except their batch norms; everything outside the backbone trains.
    public static func officialTrainable(_ config: MDETRConfig) -> (String) -> Bool {
        let resnet = config.backbone.hasPrefix("resnet")
        return { key in
            guard resnet, key.hasPrefix("backbone.") else { return true }
            return key.contains("layer2") || key.contains("layer3") || key.contains("layer4")
        }
    }

    static func isFrozenBatchNorm(_ key: String) -> Bool {
        // Backbone batch norms (bn*, downsample.1, timm's bn) are FrozenBatchNorm2d: weight and bias are buffers too.
        guard key.hasPrefix("backbone.") else { return false }
        let parts = key.split(separator: ".")
        guard parts.count >= 2 else { return false }
        let module = parts[parts.count - 2]
        return module.hasPrefix("bn") || module.hasPrefix("_bn") || (module == "1" && parts.dropLast(2).last == "downsample")
    }

    func p(_ key: String) -> Variable {
        guard let v = parameters[key] else { preconditionFailure("missing parameter \(key)") }
        return v
    }

    /// This step's dropout (nil when off): one random stream across steps, as before.
    func dropoutState() -> Dropout? { dropout > 0 ? Dropout(probability: dropout, random: random) : nil }

    // MARK: - Forward

    /// What every decoder layer emits (after `decoder.norm`), plus the encoder's text tokens projected for alignment.
    public struct Outputs {
        public struct Layer {
            public var logits: Variable            // (Q, 256)
            public var boxes: Variable             // (Q, 4) sigmoid (cx, cy, w, h)
            public var projectedQueries: Variable? // (Q, 64) unit rows
        }
        public var layers: [Layer]                 // aux layers first, the last layer last (as `aux_outputs` + final)
        public var projectedTokens: Variable?      // (L, 64) unit rows
        /// The encoder's image tokens projected like the queries, and the feature grid they lie on (h, w).
        public var projectedImageTokens: Variable? // (h·w, 64) unit rows
        public var grid: (height: Int, width: Int) = (0, 0)
    }

    /// One image: `features` the backbone output (C, h, w) — a variable from `resnet(_:)`, or a constant from a frozen
    /// backbone — and the caption's token ids.
    /// `textHidden` (L, Ht) replaces the text encoder when it is frozen (computed once per caption and reused).
    public func forward(features: Variable, ids: [Int], textHidden: Tensor? = nil) -> Outputs {
        let drop = dropoutState()
        defer { if let drop { random = drop.random } }
        let h = features.shape[1], w = features.shape[2], l = ids.count
        let image = network.imageTokens(features)                                                  // (h·w, D)
        let position = PositionEncoding.sine(height: h, width: w, features: config.hidden / 2)     // (h·w, D)
        let hidden = textHidden.map { Variable($0) } ?? network.encodeText(ids, dropout: drop)      // (L, Ht)
        let text = network.resize(hidden, dropout: drop)                                           // (L, D)
        let (memory, decoded) = network.transform(image: image, position: position, text: text, dropout: drop)
        let layers = decoded.map { hs in
            let heads = network.heads(hs)
            return Outputs.Layer(logits: heads.logits, boxes: heads.boxes, projectedQueries: heads.projectedQueries)
        }
        var outputs = Outputs(layers: layers, projectedTokens: network.projectedTokens(memory: memory, tokens: l))
        outputs.grid = (h, w)
        if projectsImageTokens, let align = network.alignImage {
            outputs.projectedImageTokens = align(memory.slice(rows: 0..<(h * w))).l2NormalizedRows()
        }
        return outputs
    }

    /// BERT/RoBERTa `last_hidden_state` for one unpadded caption: (L, Ht).
    public func textEncoder(_ ids: [Int]) -> Variable { network.encodeText(ids) }

    /// The ResNet backbone's last feature map for a normalized image (3, H, W): (C, H/32, W/32).
    public func resnet(_ image: Tensor) -> Variable {
        guard let backbone else { preconditionFailure("resnet(_:) on a \(config.backbone) model: its backbone is not trainable") }
        return backbone(Variable(image))
    }
}
