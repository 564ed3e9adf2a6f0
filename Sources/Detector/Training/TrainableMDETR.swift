import Foundation

/// MDETR as a differentiable graph for training: the same network as `MDETRModel` (official key layout, module order
/// of `models/mdetr.py` and `transformer.py`), built from `Variable`s so losses can be back-propagated. Parameters are
/// kept by their state-dict key; which ones train is decided by `trainable(key)` (MDETR freezes every batch norm, and
/// for ResNets conv1 and layer1).
///
/// Shapes: C backbone channels, h×w feature map, D model width, L text tokens, Q queries, Ht text width.
public final class TrainableMDETR {
    public let config: MDETRConfig
    /// Every tensor of the state dict by key (frozen ones too, as constants).
    public private(set) var parameters: [String: Variable] = [:]
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
        for key in weights.keys where !key.hasSuffix("num_batches_tracked") && !key.hasSuffix("position_ids") {
            let isBuffer = key.hasSuffix("running_mean") || key.hasSuffix("running_var") || Self.isFrozenBatchNorm(key)
            parameters[key] = Variable(try weights.tensor(key), requiresGrad: !isBuffer && trains(key), name: key)
        }
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

    /// The parameters gradients are computed for, by key.
    public var trainableParameters: [(String, Variable)] {
        parameters.filter { $0.value.requiresGrad }.sorted { $0.key < $1.key }
    }

    func p(_ key: String) -> Variable {
        guard let v = parameters[key] else { preconditionFailure("missing parameter \(key)") }
        return v
    }

    func linear(_ x: Variable, _ name: String) -> Variable {
        x.linear(p(name + ".weight"), parameters[name + ".bias"])
    }

    func layerNorm(_ x: Variable, _ name: String, eps: Float) -> Variable {
        x.layerNorm(p(name + ".weight"), p(name + ".bias"), eps: eps)
    }

    func drop(_ x: Variable) -> Variable { dropout > 0 ? x.dropout(dropout, using: &random) : x }

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
        let c = config, d = c.hidden
        let h = features.shape[1], w = features.shape[2]
        let projected = features.conv2d(p("input_proj.weight"), p("input_proj.bias"))            // (D, h, w)
        let image = projected.reshaped([d, h * w]).transposed()                                    // (h·w, D)
        let position = PositionEncoding.sine(height: h, width: w, features: d / 2)                 // (h·w, D)
        let textHidden = textHidden.map { Variable($0) } ?? textEncoder(ids)                        // (L, Ht)
        let text = drop(layerNorm(linear(textHidden, "transformer.resizer.fc"), "transformer.resizer.layer_norm", eps: 1e-12))
        let l = ids.count
        var memory = Variable.concat(rows: [image, text])                                          // (h·w + L, D)
        let pos = Variable(Tensor.concat(rows: [position, Tensor(zeros: [l, d])]))
        for i in 0..<c.encoderLayers { memory = encoderLayer(memory, pos: pos, prefix: "transformer.encoder.layers.\(i)") }
        let queryPos = p("query_embed.weight")                                                     // (Q, D)
        let keys = memory + pos
        var target = Variable(Tensor(zeros: [c.queries, d]))
        var layers: [Outputs.Layer] = []
        let textMemory = memory.slice(rows: (h * w)..<(h * w + l))                                // (L, D)
        for i in 0..<c.decoderLayers {
            target = decoderLayer(target, memory: memory, keys: keys, queryPos: queryPos, prefix: "transformer.decoder.layers.\(i)")
            let hs = layerNorm(target, "transformer.decoder.norm", eps: 1e-5)                      // (Q, D)
            var box = linear(hs, "bbox_embed.layers.0").relu()
            box = linear(box, "bbox_embed.layers.1").relu()
            layers.append(Outputs.Layer(
                logits: linear(hs, "class_embed"), boxes: linear(box, "bbox_embed.layers.2").sigmoid(),
                projectedQueries: c.contrastiveAlign ? linear(hs, "contrastive_align_projection_image").l2NormalizedRows() : nil))
        }
        let tokens = c.contrastiveAlign ? linear(textMemory, "contrastive_align_projection_text").l2NormalizedRows() : nil
        var outputs = Outputs(layers: layers, projectedTokens: tokens)
        outputs.grid = (h, w)
        if projectsImageTokens && c.contrastiveAlign {
            outputs.projectedImageTokens = linear(memory.slice(rows: 0..<(h * w)), "contrastive_align_projection_image").l2NormalizedRows()
        }
        return outputs
    }

    func attention(_ query: Variable, _ key: Variable, _ value: Variable, prefix: String, heads: Int) -> Variable {
        let e = query.shape[1]
        let w = p(prefix + ".in_proj_weight"), b = p(prefix + ".in_proj_bias")
        let q = query.linear(w.slice(rows: 0..<e), b.slice(rows: 0..<e))
        let k = key.linear(w.slice(rows: e..<(2 * e)), b.slice(rows: e..<(2 * e)))
        let v = value.linear(w.slice(rows: (2 * e)..<(3 * e)), b.slice(rows: (2 * e)..<(3 * e)))
        return linear(Variable.attention(q: q, k: k, v: v, heads: heads), prefix + ".out_proj")
    }

    func encoderLayer(_ x: Variable, pos: Variable, prefix: String) -> Variable {
        let qk = x + pos
        var y = layerNorm(x + drop(attention(qk, qk, x, prefix: prefix + ".self_attn", heads: config.heads)), prefix + ".norm1", eps: 1e-5)
        let f = linear(drop(linear(y, prefix + ".linear1").relu()), prefix + ".linear2")
        y = layerNorm(y + drop(f), prefix + ".norm2", eps: 1e-5)
        return y
    }

    func decoderLayer(_ t: Variable, memory: Variable, keys: Variable, queryPos: Variable, prefix: String) -> Variable {
        let qk = t + queryPos
        var y = layerNorm(t + drop(attention(qk, qk, t, prefix: prefix + ".self_attn", heads: config.heads)), prefix + ".norm1", eps: 1e-5)
        let cross = attention(y + queryPos, keys, memory, prefix: prefix + ".cross_attn_image", heads: config.heads)
        y = layerNorm(y + drop(cross), prefix + ".norm3", eps: 1e-5)
        let f = linear(drop(linear(y, prefix + ".linear1").relu()), prefix + ".linear2")
        return layerNorm(y + drop(f), prefix + ".norm4", eps: 1e-5)
    }

    /// BERT/RoBERTa `last_hidden_state` for one unpadded caption: (L, Ht).
    public func textEncoder(_ ids: [Int]) -> Variable {
        let t = config.text, prefix = "transformer.text_encoder"
        let positions = ids.indices.map { t.family == .roberta ? t.padTokenID + 1 + $0 : $0 }
        var x = p(prefix + ".embeddings.word_embeddings.weight").gather(rows: ids)
            + p(prefix + ".embeddings.position_embeddings.weight").gather(rows: positions)
            + p(prefix + ".embeddings.token_type_embeddings.weight").gather(rows: [Int](repeating: 0, count: ids.count))
        x = drop(layerNorm(x, prefix + ".embeddings.LayerNorm", eps: t.layerNormEps))
        for i in 0..<t.layers {
            let l = "\(prefix).encoder.layer.\(i)"
            let context = Variable.attention(q: linear(x, l + ".attention.self.query"), k: linear(x, l + ".attention.self.key"),
                                             v: linear(x, l + ".attention.self.value"), heads: t.heads)
            x = layerNorm(drop(linear(context, l + ".attention.output.dense")) + x, l + ".attention.output.LayerNorm", eps: t.layerNormEps)
            let f = linear(linear(x, l + ".intermediate.dense").gelu(), l + ".output.dense")
            x = layerNorm(drop(f) + x, l + ".output.LayerNorm", eps: t.layerNormEps)
        }
        return x
    }

    // MARK: - ResNet backbone (torchvision layout, frozen batch norms)

    /// The backbone's last feature map for a normalized image (3, H, W): (C, H/32, W/32).
    public func resnet(_ image: Tensor) -> Variable {
        let b = "backbone.0.body"
        var x = frozenBN(Variable(image).conv2d(p(b + ".conv1.weight"), nil, stride: 2, padding: .symmetric(3)), b + ".bn1").relu()
        x = x.maxPool2d(kernel: 3, stride: 2, padding: 1)
        var stage = 1
        while parameters["\(b).layer\(stage).0.conv1.weight"] != nil {
            var block = 0
            while parameters["\(b).layer\(stage).\(block).conv1.weight"] != nil {
                let s = "\(b).layer\(stage).\(block)"
                let stride = stage > 1 && block == 0 ? 2 : 1
                let bottleneck = parameters[s + ".conv3.weight"] != nil
                var y: Variable
                if bottleneck {
                    y = frozenBN(x.conv2d(p(s + ".conv1.weight"), nil), s + ".bn1").relu()
                    y = frozenBN(y.conv2d(p(s + ".conv2.weight"), nil, stride: stride, padding: .symmetric(1)), s + ".bn2").relu()
                    y = frozenBN(y.conv2d(p(s + ".conv3.weight"), nil), s + ".bn3")
                } else {
                    y = frozenBN(x.conv2d(p(s + ".conv1.weight"), nil, stride: stride, padding: .symmetric(1)), s + ".bn1").relu()
                    y = frozenBN(y.conv2d(p(s + ".conv2.weight"), nil, padding: .symmetric(1)), s + ".bn2")
                }
                let shortcut = parameters[s + ".downsample.0.weight"] != nil
                    ? frozenBN(x.conv2d(p(s + ".downsample.0.weight"), nil, stride: stride), s + ".downsample.1") : x
                x = (y + shortcut).relu()
                block += 1
            }
            stage += 1
        }
        return x
    }

    /// MDETR's FrozenBatchNorm2d (eps 1e-5) as a constant affine.
    func frozenBN(_ x: Variable, _ name: String) -> Variable {
        let w = p(name + ".weight").value.data, b = p(name + ".bias").value.data
        let mean = p(name + ".running_mean").value.data, variance = p(name + ".running_var").value.data
        let scale = zip(w, variance).map { $0 / ($1 + 1e-5).squareRoot() }
        let shift = (0..<w.count).map { b[$0] - mean[$0] * scale[$0] }
        return x.channelAffine(scale: scale, shift: shift)
    }
}
