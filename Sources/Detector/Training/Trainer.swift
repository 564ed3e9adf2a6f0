import Foundation

/// One training example as MDETR builds them: an image, a caption, and the boxes its phrases ground. LVIS-style
/// records are a category name with all its boxes (positive) or with none (negative); grounding records are
/// captions whose phrases each own some boxes.
public struct TrainingRecord: Sendable {
    /// Batches hold one kind of data (DetCLIPv2's grouping).
    public enum Kind: Sendable { case detection, grounding, captionOnly }
    public var kind: Kind = .detection
    public var image: Int                    // index into the trainer's images
    public var caption: String
    public var boxes: [[Float]]              // (cx, cy, w, h) relative to the image
    public var spans: [[Range<Int>]]         // per box: the caption's character spans it belongs to
    /// Per box, the concept text it belongs to (DetCLIPv2's detection records: one record per image, every box on
    /// its category's "name: definition"); empty for MDETR's records.
    public var concepts: [String] = []
    public init(image: Int, caption: String, boxes: [[Float]], spans: [[Range<Int>]], kind: Kind = .detection) {
        self.kind = kind
        self.image = image
        self.caption = caption
        self.boxes = boxes
        self.spans = spans
    }
}

/// The optimisation loop's pieces for one step: forward every record of the batch, MDETR's objective, backward,
/// clipping, AdamW, EMA. Frozen parts are computed once and reused: backbone features per image (`features`), and
/// the text encoder's output per caption when the text encoder is frozen.
public final class Trainer {
    public let model: TrainableMDETR
    public let tokenizer: any Tokenizer
    public var criterion = MDETRCriterion()
    public let optimizer: AdamW
    public let ema: ExponentialMovingAverage?
    public var clipNorm: Float = 0.1
    /// Backbone output (C, h, w) of image i (frozen backbone).
    let features: (Int) -> Tensor
    private var textCache: [String: (Encoding, Tensor?)] = [:]
    let textFrozen: Bool

    public init(model: TrainableMDETR, tokenizer: any Tokenizer, features: @escaping (Int) -> Tensor,
                learningRates: (main: Float, backbone: Float, textEncoder: Float), emaDecay: Float? = 0.9998) {
        self.model = model
        self.tokenizer = tokenizer
        self.features = features
        optimizer = AdamW(groups: AdamW.mdetrGroups(model.trainableParameters, lr: learningRates.main,
                                                    backbone: learningRates.backbone, textEncoder: learningRates.textEncoder))
        ema = emaDecay.map { ExponentialMovingAverage(model, decay: $0) }
        textFrozen = !model.trainableParameters.contains { $0.0.hasPrefix("transformer.text_encoder.") }
    }

    func encode(_ caption: String) -> (Encoding, Tensor?) {
        if let hit = textCache[caption] { return hit }
        let encoding = tokenizer.encode(caption)
        let hidden = textFrozen ? model.textEncoder(encoding.ids).value : nil
        if textCache.count > 50_000 { textCache.removeAll() }
        textCache[caption] = (encoding, hidden)
        return (encoding, hidden)
    }

    /// The target of a record: its boxes and the binary positive map of their spans.
    func target(_ record: TrainingRecord, _ encoding: Encoding) -> MDETRCriterion.Target {
        var map = PositiveMap.build(encoding, phrases: record.spans, width: model.config.tokenSlots)
        for i in map.data.indices { map.data[i] = map.data[i] > 0 ? 1 : 0 }
        return MDETRCriterion.Target(boxes: record.boxes, positiveMap: map)
    }

    /// One optimizer step on `batch`; returns the loss terms and the gradient norm before clipping.
    @discardableResult
    public func step(_ batch: [TrainingRecord]) -> (terms: [String: Float], gradientNorm: Float) {
        stepWithTargets(batch, targets: batch.map { target($0, encode($0.caption).0) })
    }

    /// A step with the targets given (benchmarks build positive maps directly).
    @discardableResult
    public func stepWithTargets(_ batch: [TrainingRecord], targets: [MDETRCriterion.Target]) -> (terms: [String: Float], gradientNorm: Float) {
        let outputs = zip(batch, targets).map { record, target -> (TrainableMDETR.Outputs, MDETRCriterion.Target) in
            let (encoding, hidden) = encode(record.caption)
            let out = model.forward(features: Variable(features(record.image)), ids: encoding.ids, textHidden: hidden)
            return (out, target)
        }
        let (total, terms) = criterion.loss(outputs)
        total.backward()
        let norm = optimizer.clipGradients(maxNorm: clipNorm)
        optimizer.update()
        ema?.update(from: model, updates: optimizer.step - 1)
        return (terms, norm)
    }

    public var alignment = WordRegionAlignment()

    /// A batch of caption-only records (`spans` holds each phrase's spans, `boxes` is empty): the word-region
    /// alignment loss, backward, clipping, AdamW. `features` gives these images' (lower-resolution) backbone output.
    /// Returns the loss, or nil when the batch has fewer than two usable captions.
    @discardableResult
    public func alignmentStep(_ batch: [TrainingRecord], features: (Int) -> Tensor) -> Float? {
        let items = batch.map { record -> WordRegionAlignment.Item in
            let (encoding, hidden) = encode(record.caption)
            let out = model.forward(features: Variable(features(record.image)), ids: encoding.ids, textHidden: hidden)
            let phraseTokens = record.spans.map { spans in PositiveMap.tokenRanges(encoding, spans: spans).flatMap { Array($0) } }
            return WordRegionAlignment.Item(regions: out.layers.last!.projectedQueries!, tokens: out.projectedTokens!,
                                            phraseTokens: phraseTokens)
        }
        guard let loss = alignment.loss(items) else { return nil }
        loss.backward()
        optimizer.clipGradients(maxNorm: clipNorm)
        optimizer.update()
        ema?.update(from: model, updates: optimizer.step - 1)
        return loss.value.data[0]
    }
}
