import Foundation
import Pipeline

/// `pipelined train --config FILE`: what to train on, the network, and the recipe. Unknown keys are errors.
///
///     name = "default"
///     output = "models/default"            # the model directory written at the end
///     checkpoint_dir = "/var/tmp/train"     # resumable state (a rerun resumes from it)
///     [data]
///     train = "synth/lvis_v1_train.json"
///     val = "synth/lvis_v1_val.json"
///     images = "synth/images"
///     grounding = "synth/grounding_train.json"   # optional captions with phrase spans
///     negatives_per_image = 2                # -1: every negative category of the image (MDETR's few-shot records)
///     packed_per_image = 0                  # GLIP-style records: the image's categories among others in one caption
///     packed_tokens = 0                     # their caption's token budget (0: the model's, 255)
///     subset_fraction = 1.0                 # < 1: MDETR's class-balanced subset of the images (1 %, 10 % runs)
///     sampling = "uniform"                  # or "repeat_factor": positive records of rare categories repeated
///     repeat_threshold = 0.001              # LVIS's t in r = max(1, √(t / f))
///     image_size = 320                      # shorter side; the longer at most image_max
///     image_max = 480
///     caption_image_size = 240              # caption-only images train smaller (default ¾ image_size)
///     val_images = 100
///     [model]
///     family = "mdetr"                      # or "detclip": DetCLIPv2 (ATSS head, region·concept scores)
///     backbone = "efficientnet_lite0"
///     backbone_weights = "${PIPELINED_LITE0_WEIGHTS}"
///     text_encoder = "minilm-l6"
///     text_weights = "${PIPELINED_MINILM_DIR}"
///     hidden = 128 …                        # heads, encoder_layers, decoder_layers, feed_forward, queries, contrastive_dim
///     channels = 128, levels = 5, stacked_convs = 2, align_dim = 128   # detclip: pyramid width, P3–P7, head depth, d_align
///     concepts_per_batch = 300              # detclip: concepts a detection batch is scored against (its own + negatives)
///     init = "models/previous"              # optional: start from a model directory
///     [train]
///     epochs = 2, batch = 8, caption_batch = 16 (default 2 × batch), lr = 1e-4, lr_backbone = 0, lr_text_encoder = 0  (0 freezes the part)
///     encoder_alignment = 0                 # > 0: dense text→image-token alignment on the encoder (beyond MDETR)
///     lr_drop_step = 0                      # > 0: one ×0.1 drop at this step instead of every lr_drop epochs
///     lr_drop = 0, clip = 0.1, ema = true, ema_decay = 0.9998, seed = 0, checkpoint_every = 200, max_steps = 0, dropout = 0.1
///     eval_every = 0                        # > 0: at checkpoints that are multiples of it, validation AP into curve.jsonl
public struct TrainingConfig: Sendable {
    public var configPath = ""
    public var name = "model"
    public var output = "model"
    public var checkpointDirectory: String?
    public var train = "", val: String?, images = "", grounding: String?
    public var negativesPerImage = 2
    /// Packed records per image (several categories per caption, as `[query] strategy = "packed"` asks), and the
    /// token budget of their captions (0: the model's limit).
    public var packedPerImage = 0, packedTokens = 0
    public var subsetFraction = 1.0
    public var sampling = "uniform", repeatThreshold = 0.001
    public var imageSize = 320, imageMax = 480, valImages = 100
    public var captionImageSize: Int?, captionBatch: Int?
    public var backbone = "efficientnet_lite0", backboneWeights = "${PIPELINED_LITE0_WEIGHTS}"
    public var textEncoder = "minilm-l6", textWeights = "${PIPELINED_MINILM_DIR}"
    public var hidden = 128, heads = 8, encoderLayers = 3, decoderLayers = 3, feedForward = 512, queries = 50, contrastiveDim = 64
    /// "mdetr" or "detclip", and DetCLIPv2's shape (`DetCLIPConfig`).
    public var family = "mdetr"
    public var channels = 128, levels = 5, stackedConvs = 2, alignDim = 128, conceptsPerBatch = 300
    public var initFrom: String?
    public var epochs = 1, batch = 8
    public var lr = 1e-4, lrBackbone = 0.0, lrTextEncoder = 0.0
    /// Weight of the encoder alignment term (a training aid beyond MDETR; 0: MDETR's objective exactly).
    public var encoderAlignment = 0.0
    public var lrDropStep = 0
    public var lrDrop = 0, clip = 0.1, ema = true, emaDecay = 0.9998, seed = 0, checkpointEvery = 200, maxSteps = 0, dropout = 0.1
    /// Steps between points of the time-to-AP curve (0: none).
    public var evalEvery = 0

    public init() {}

    public static func load(_ path: String) throws -> TrainingConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError.unreadable(path: path, reason: error.localizedDescription)
        }
        var c = TrainingConfig()
        c.configPath = path
        var r = try TableReader.parse(text, path: path)
        try r.string("name") { c.name = $0 }
        try r.string("output") { c.output = $0 }
        try r.string("checkpoint_dir") { c.checkpointDirectory = $0 }
        try r.table("data") { d in
            try d.string("train") { c.train = $0 }
            try d.string("val") { c.val = $0 }
            try d.string("images") { c.images = $0 }
            try d.string("grounding") { c.grounding = $0 }
            try d.int("negatives_per_image") { c.negativesPerImage = $0 }
            try d.int("packed_per_image") { c.packedPerImage = $0 }
            try d.int("packed_tokens") { c.packedTokens = $0 }
            try d.double("subset_fraction") { c.subsetFraction = $0 }
            try d.string("sampling") { c.sampling = $0 }
            try d.double("repeat_threshold") { c.repeatThreshold = $0 }
            try d.int("image_size") { c.imageSize = $0 }
            try d.int("image_max") { c.imageMax = $0 }
            try d.int("val_images") { c.valImages = $0 }
            try d.int("caption_image_size") { c.captionImageSize = $0 }
        }
        try r.table("model") { m in
            try m.string("family") { c.family = $0 }
            try m.int("channels") { c.channels = $0 }
            try m.int("levels") { c.levels = $0 }
            try m.int("stacked_convs") { c.stackedConvs = $0 }
            try m.int("align_dim") { c.alignDim = $0 }
            try m.int("concepts_per_batch") { c.conceptsPerBatch = $0 }
            try m.string("backbone") { c.backbone = $0 }
            try m.string("backbone_weights") { c.backboneWeights = $0 }
            try m.string("text_encoder") { c.textEncoder = $0 }
            try m.string("text_weights") { c.textWeights = $0 }
            try m.int("hidden") { c.hidden = $0 }
            try m.int("heads") { c.heads = $0 }
            try m.int("encoder_layers") { c.encoderLayers = $0 }
            try m.int("decoder_layers") { c.decoderLayers = $0 }
            try m.int("feed_forward") { c.feedForward = $0 }
            try m.int("queries") { c.queries = $0 }
            try m.int("contrastive_dim") { c.contrastiveDim = $0 }
            try m.string("init") { c.initFrom = $0 }
        }
        try r.table("train") { t in
            try t.int("epochs") { c.epochs = $0 }
            try t.int("batch") { c.batch = $0 }
            try t.int("caption_batch") { c.captionBatch = $0 }
            try t.double("lr") { c.lr = $0 }
            try t.double("lr_backbone") { c.lrBackbone = $0 }
            try t.double("lr_text_encoder") { c.lrTextEncoder = $0 }
            try t.int("lr_drop") { c.lrDrop = $0 }
            try t.int("lr_drop_step") { c.lrDropStep = $0 }
            try t.double("encoder_alignment") { c.encoderAlignment = $0 }
            try t.double("clip") { c.clip = $0 }
            try t.bool("ema") { c.ema = $0 }
            try t.double("ema_decay") { c.emaDecay = $0 }
            try t.int("seed") { c.seed = $0 }
            try t.int("checkpoint_every") { c.checkpointEvery = $0 }
            try t.int("max_steps") { c.maxSteps = $0 }
            try t.double("dropout") { c.dropout = $0 }
            try t.int("eval_every") { c.evalEvery = $0 }
        }
        for (key, value) in [("data.packed_per_image", c.packedPerImage), ("data.packed_tokens", c.packedTokens)] where value < 0 {
            throw ConfigError.invalid(key: key, value: "\(value)", expected: "≥ 0")
        }
        try r.finish()
        // Relative paths are relative to the config file.
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") || p.hasPrefix("${") ? p : base.appendingPathComponent(p).path }
        c.output = resolve(c.output)
        c.checkpointDirectory = c.checkpointDirectory.map(resolve)
        c.train = resolve(c.train)
        c.val = c.val.map(resolve)
        c.images = resolve(c.images)
        c.grounding = c.grounding.map(resolve)
        c.initFrom = c.initFrom.map(resolve)
        guard !c.train.isEmpty, c.train != base.path else { throw ConfigError.invalid(key: "data.train", value: "nothing", expected: "an LVIS/COCO JSON file") }
        guard ["uniform", "repeat_factor"].contains(c.sampling) else {
            throw ConfigError.invalid(key: "data.sampling", value: c.sampling, expected: "uniform or repeat_factor")
        }
        guard c.subsetFraction > 0 && c.subsetFraction <= 1 else {
            throw ConfigError.invalid(key: "data.subset_fraction", value: "\(c.subsetFraction)", expected: "0 < f ≤ 1")
        }
        guard ["mdetr", "detclip"].contains(c.family) else { throw ConfigError.invalid(key: "model.family", value: c.family, expected: "mdetr or detclip") }
        if c.family == "detclip" {
            guard (3...5).contains(c.levels) else { throw ConfigError.invalid(key: "model.levels", value: "\(c.levels)", expected: "3 (P3–P5) to 5 (P3–P7)") }
            for (key, value) in [("model.channels", c.channels), ("model.align_dim", c.alignDim), ("model.stacked_convs", c.stackedConvs),
                                 ("model.concepts_per_batch", c.conceptsPerBatch)] where value < 1 || value > 4096 {
                throw ConfigError.invalid(key: key, value: "\(value)", expected: "1 … 4096")
            }
            guard c.channels % 32 == 0 else { throw ConfigError.invalid(key: "model.channels", value: "\(c.channels)", expected: "a multiple of 32 (GroupNorm's 32 groups)") }
        }
        guard c.batch >= 1, c.epochs >= 1 else { throw ConfigError.invalid(key: "train.batch/epochs", value: "\(c.batch)/\(c.epochs)", expected: "≥ 1") }
        return c
    }
}
