import Detector
import Foundation

/// One model family's part of a training run — its network and trainer, what a step does with a batch of records,
/// how its progress reads. The loop, checkpoints and resume (`TrainingSession.run`) are shared by every family.
protocol TrainingEngine: AnyObject {
    var network: any TrainableNetwork { get }
    var optimizer: AdamW { get }
    var ema: ExponentialMovingAverage? { get }
    /// Keys of the pretrained parts that run frozen (kept out of the run's own weights).
    var frozenPrefixes: [String] { get }
    /// One optimizer step on a batch of detection or grounding records: the loss terms.
    func step(_ batch: [TrainingRecord], step: Int) -> [String: Float]
    /// One optimizer step on a batch of caption-only records: the word-region loss (nil: nothing usable).
    func alignmentStep(_ batch: [TrainingRecord]) -> Float?
    /// The progress line for the running averages of the terms.
    func describe(_ average: [String: Float]) -> String
}

extension TrainingEngine {
    /// The tensors a run trains (not the pretrained parts), EMA values when EMA is on.
    func trainedTensors(averaged: Bool) -> [(String, Tensor)] {
        let parameters = network.parameters
        return parameters.keys.sorted().filter { key in !frozenPrefixes.contains { key.hasPrefix($0) } }
            .compactMap { key in (averaged ? ema?.shadow[key] : nil).map { (key, $0) } ?? parameters[key].map { (key, $0.value) } }
    }
}

/// MDETR's part: `Trainer` over the cached stride-32 features.
final class MDETREngine: TrainingEngine {
    let trainer: Trainer
    let features: FeatureCache

    init(trainer: Trainer, features: FeatureCache) {
        self.trainer = trainer
        self.features = features
    }

    var network: any TrainableNetwork { trainer.model }
    var optimizer: AdamW { trainer.optimizer }
    var ema: ExponentialMovingAverage? { trainer.ema }
    let frozenPrefixes = ["backbone.", "transformer.text_encoder."]

    func step(_ batch: [TrainingRecord], step: Int) -> [String: Float] { trainer.step(batch).terms }

    func alignmentStep(_ batch: [TrainingRecord]) -> Float? {
        trainer.alignmentStep(batch, features: { self.features.captionFeatures($0)[0] })
    }

    func describe(_ average: [String: Float]) -> String {
        var line = String(format: "loss %.3f ce %.3f bbox %.3f giou %.3f align %.3f word-region %.3f",
                          average["loss"] ?? 0, average["loss_ce"] ?? 0, average["loss_bbox"] ?? 0,
                          average["loss_giou"] ?? 0, average["loss_contrastive_align"] ?? 0, average["loss_word_region"] ?? 0)
        if let e = average["loss_encoder_align"] { line += String(format: " encoder-align %.3f", e) }
        return line
    }
}
