/// Everything that shapes an MDETR network. Read from a checkpoint's `args` (see `MDETRConfig.init(args:)`), from
/// an imported model's manifest, or set by hand; CLI flags may override any field.
public struct MDETRConfig: Sendable, Equatable, Codable {
    /// `resnet18|34|50|101`, `timm_tf_efficientnet_b3_ns`, `timm_tf_efficientnet_b5_ns`, `efficientnet_lite0`.
    public var backbone: String
    /// `roberta-base`, `distilroberta-base`, `all-MiniLM-L6-v2`, or a custom name with `text` given explicitly.
    public var textEncoderType: String
    public var text: TextEncoderConfig
    public var hidden: Int = 256
    public var heads: Int = 8
    public var encoderLayers: Int = 6
    public var decoderLayers: Int = 6
    public var feedForward: Int = 2048
    public var queries: Int = 100
    public var contrastiveAlign: Bool = true
    public var contrastiveDim: Int = 64
    /// Width of the soft-token head: 255 token positions + no-object.
    public var tokenSlots: Int = 256
    /// The most tokens a caption may have (the soft-token head has 255 positions besides no-object; the text encoder
    /// its position table).
    public var maxTokens: Int { min(tokenSlots - 1, text.maxTokens) }

    public init(backbone: String, textEncoderType: String, text: TextEncoderConfig) {
        self.backbone = backbone
        self.textEncoderType = textEncoderType
        self.text = text
    }

    /// Known text-encoder hyper-parameters that checkpoints do not carry.
    public static func knownTextConfig(_ name: String) -> TextEncoderConfig? {
        switch name {
        case "roberta-base": return .robertaBase
        case "distilroberta-base": return .distilrobertaBase
        case "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm-l6": return .miniLML6
        default: return nil
        }
    }

    /// From an official checkpoint's `args` (argparse.Namespace). `textConfig` supplies the encoder's
    /// hyper-parameters when the type is not one of the known ones (e.g. from a HuggingFace `config.json`).
    public init(args: PickleValue, textConfig: TextEncoderConfig? = nil) throws {
        guard let backbone = args["backbone"]?.string else { throw WeightsError.missingConfig("args.backbone") }
        let textType = args["text_encoder_type"]?.string ?? "roberta-base"
        guard let text = textConfig ?? Self.knownTextConfig(textType) else {
            throw WeightsError.missingConfig("text encoder '\(textType)' is not a known one: pass its config.json with --text-config")
        }
        self.init(backbone: backbone, textEncoderType: textType, text: text)
        if let v = args["hidden_dim"]?.int { hidden = v }
        if let v = args["nheads"]?.int { heads = v }
        if let v = args["enc_layers"]?.int { encoderLayers = v }
        if let v = args["dec_layers"]?.int { decoderLayers = v }
        if let v = args["dim_feedforward"]?.int { feedForward = v }
        if let v = args["num_queries"]?.int { queries = v }
        if let v = args["contrastive_align_loss"]?.bool { contrastiveAlign = v }
        if let v = args["contrastive_hdim"]?.int { contrastiveDim = v }
    }

    /// The keys `applying(overrides:)` accepts: the checkpoint `args` names they replace.
    public static let overridableKeys = ["backbone", "text_encoder_type", "hidden_dim", "nheads", "enc_layers",
                                         "dec_layers", "dim_feedforward", "num_queries", "contrastive_align_loss",
                                         "contrastive_hdim"]

    /// The configuration with `args`-named fields replaced (from the command line: `--set num_queries=100`).
    public func applying(overrides: [String: String]) throws -> MDETRConfig {
        var c = self
        for (key, value) in overrides {
            func int() throws -> Int {
                guard let v = Int(value), v > 0 else {
                    throw WeightsError.missingConfig("\(key)=\(value): expected a positive integer")
                }
                return v
            }
            switch key {
            case "backbone": c.backbone = value
            case "text_encoder_type":
                guard let text = Self.knownTextConfig(value) else {
                    throw WeightsError.missingConfig("text_encoder_type=\(value) is not a known encoder; use --text-config")
                }
                c.textEncoderType = value
                c.text = text
            case "hidden_dim": c.hidden = try int()
            case "nheads": c.heads = try int()
            case "enc_layers": c.encoderLayers = try int()
            case "dec_layers": c.decoderLayers = try int()
            case "dim_feedforward": c.feedForward = try int()
            case "num_queries": c.queries = try int()
            case "contrastive_hdim": c.contrastiveDim = try int()
            case "contrastive_align_loss":
                guard let v = ["true": true, "false": false, "1": true, "0": false][value.lowercased()] else {
                    throw WeightsError.missingConfig("contrastive_align_loss=\(value): expected true or false")
                }
                c.contrastiveAlign = v
            default:
                throw WeightsError.missingConfig("unknown setting '\(key)' (known: \(Self.overridableKeys.joined(separator: ", ")))")
            }
        }
        return c
    }
}
