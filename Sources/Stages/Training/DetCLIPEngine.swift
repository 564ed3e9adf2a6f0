import Detector
import Foundation

/// DetCLIPv2's part: `DetCLIPTrainer` over cached C3–C5 and pooled concept features. A detection batch is scored
/// against its images' concepts and negatives drawn from the vocabulary (all of it when it fits
/// `concepts_per_batch`); a grounding batch against its captions' phrases; caption-only batches train the
/// word-region loss on their phrases.
final class DetCLIPEngine: TrainingEngine {
    let trainer: DetCLIPTrainer
    let features: FeatureCache
    let concepts: ConceptEncoder
    /// The vocabulary's concept texts (negatives are drawn from them).
    let vocabulary: [String]
    let c: TrainingConfig

    init(trainer: DetCLIPTrainer, features: FeatureCache, concepts: ConceptEncoder, vocabulary: [String], config: TrainingConfig) {
        self.trainer = trainer
        self.features = features
        self.concepts = concepts
        self.vocabulary = vocabulary
        c = config
    }

    var network: any TrainableNetwork { trainer.model }
    var optimizer: AdamW { trainer.optimizer }
    var ema: ExponentialMovingAverage? { trainer.ema }
    var frozenPrefixes: [String] { TrainableDetCLIP.frozenPrefixes }

    func step(_ batch: [TrainingRecord], step: Int) -> [String: Float] {
        // Each box's concept: its category's (detection) or its phrase's words (grounding).
        let perRecord = batch.map { record in
            record.kind == .detection ? record.concepts : record.spans.map { Self.phrase(record.caption, $0) }
        }
        var texts: [String] = []
        var column: [String: Int] = [:]
        for text in perRecord.joined() where column[text] == nil {
            column[text] = texts.count
            texts.append(text)
        }
        if batch.first?.kind == .detection {
            // Negatives: the rest of the vocabulary, or a sample of it that is the same on a resumed run.
            var rest = vocabulary.filter { column[$0] == nil }
            if texts.count + rest.count > c.conceptsPerBatch {
                var rng = SplitMix64(seed: UInt64(c.seed), stream: 11, index: UInt64(step))
                rng.shuffle(&rest)
                rest = Array(rest.prefix(max(0, c.conceptsPerBatch - texts.count)))
            }
            for text in rest { column[text] = texts.count; texts.append(text) }
        }
        let examples = zip(batch, perRecord).map { record, boxConcepts in
            let size = features.inputSize(record.image, size: c.imageSize, maxSize: c.imageMax)
            return DetCLIPTrainer.Example(features: features.features(record.image),
                                          target: .init(boxes: record.boxes.map { Self.pixels($0, size) },
                                                        concepts: boxConcepts.map { column[$0] ?? 0 }))
        }
        return trainer.step(examples, concepts: concepts.pooled(texts)).terms
    }

    func alignmentStep(_ batch: [TrainingRecord]) -> Float? {
        var texts: [String] = [], examples: [DetCLIPTrainer.CaptionExample] = []
        for record in batch {
            let phrases = record.spans.map { Self.phrase(record.caption, $0) }.filter { !$0.isEmpty }
            examples.append(.init(features: features.captionFeatures(record.image), phrases: texts.count..<(texts.count + phrases.count)))
            texts += phrases
        }
        guard !texts.isEmpty else { return nil }
        return trainer.alignmentStep(examples, phrases: concepts.pooled(texts))
    }

    func describe(_ average: [String: Float]) -> String {
        String(format: "align %.3f reg %.3f center %.3f word-region %.3f, %.0f positives", average["align"] ?? 0, average["reg"] ?? 0,
               average["center"] ?? 0, average["loss_word_region"] ?? 0, average["positives"] ?? 0)
    }

    /// A phrase's words: its spans of the caption (Unicode scalars, end exclusive) joined by spaces.
    static func phrase(_ caption: String, _ spans: [Range<Int>]) -> String {
        let scalars = Array(caption.unicodeScalars)
        return spans.map { scalars.text($0) }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// (cx, cy, w, h) relative → (x0, y0, x1, y1) in input pixels.
    static func pixels(_ b: [Float], _ size: (width: Int, height: Int)) -> [Float] {
        let (w, h) = (Float(size.width), Float(size.height))
        return zip(BoxOps.xyxy(b), [w, h, w, h]).map { $0 * $1 }
    }
}
