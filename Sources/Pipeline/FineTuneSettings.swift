import Foundation

/// `[finetune]` of the daemon's config: when a run starts, how it trains, and the gate a candidate must pass.
public struct FineTuneSettings: Sendable, Equatable {
    public var enabled = true
    /// New labelled training images (since the active model's snapshot) that start a run.
    public var minNewImages = 20
    /// A schedule besides the count: when > 0, a run also starts once this many hours have passed since the last
    /// one if any new labelled image is waiting.
    public var everyHours = 0.0
    public var checkIntervalSeconds = 60.0
    public var steps = 400
    public var batch = 8
    /// 2e-5, the default model's final (decayed) rate: at MDETR's 1e-4 a few hundred steps cost the EMA-trained base
    /// more than the new labels bring (docs/finetuning.md, the few-shot table).
    public var lr = 2e-5
    /// 0 keeps the text encoder frozen (the default: transformer and heads train).
    public var lrTextEncoder = 0.0
    /// "repeat_factor" (default: rare categories' records repeated, against MDETR's rare-class collapse) or "uniform".
    public var sampling = "repeat_factor"
    public var repeatThreshold = 0.1
    public var checkpointEvery = 50
    /// Held-out images evaluated per model (the first ones by id).
    public var evalImages = 200
    /// The gate: the candidate's AP and APr may fall by at most these (0: not worse than the active model).
    public var maxAPDrop = 0.0
    public var maxAPrDrop = 0.0
    /// GLIP-style packed records per labelled image besides MDETR's (`[data] packed_per_image` of `pipelined train`),
    /// so the model learns packed captions; 0 (default): none. The candidate is then measured on them too.
    public var packedPerImage = 0

    public init() {}
}
