/// The score threshold a model's detections are best read at: of every "keep the boxes scoring ≥ t", the one with
/// the highest F1 (a box is right when it matches an unmatched labelled object of its category with IoU ≥ 0.5, by
/// LVIS's matching; boxes LVIS would ignore — categories not verified for the image — count neither way).
///
/// Why a threshold per model: scores mean different things in different families (MDETR's 1 − P(no-object) is
/// near 1 for what it finds; DetCLIPv2's focal-trained sigmoid rarely passes 0.6), so one fixed number keeps
/// everything of one and nothing of the other. Measured on validation images when a model is made
/// (`pipelined train`, `pipelined eval --calibrate`) and kept in its manifest.
public struct OperatingPoint: Sendable, Equatable {
    /// Keep a box when its score is above this: halfway between the last box kept and the next one, so that nearby
    /// scores of the same boxes land on the same side.
    public var threshold: Double
    public var f1: Double, precision: Double, recall: Double
    /// The labelled objects it was measured on: a threshold from a handful of them is a guess.
    public var objects: Int

    public init(threshold: Double, f1: Double, precision: Double, recall: Double, objects: Int) {
        (self.threshold, self.f1, self.precision, self.recall, self.objects) = (threshold, f1, precision, recall, objects)
    }

    /// The best prefix of the outcomes by descending score; nil when nothing can be matched (no ground truth) or no
    /// box is right. Equal scores are kept or dropped together: a threshold cannot split them.
    init?(_ outcomes: [(score: Double, truePositive: Bool)], groundTruth: Int) {
        guard groundTruth > 0 else { return nil }
        let sorted = outcomes.filter { $0.score.isFinite }.sorted { $0.score > $1.score }
        var best: (f1: Double, kept: Int, right: Int)?
        var right = 0
        for (i, o) in sorted.enumerated() {
            if o.truePositive { right += 1 }
            if i + 1 < sorted.count, sorted[i + 1].score == o.score { continue }
            // F1 = 2·TP / (kept + labelled).
            let f1 = 2 * Double(right) / Double(i + 1 + groundTruth)
            if right > 0, f1 > best?.f1 ?? 0 { best = (f1, i + 1, right) }
        }
        guard let best else { return nil }
        let last = sorted[best.kept - 1].score
        let next = best.kept < sorted.count ? sorted[best.kept].score : 0
        threshold = (last + max(next, 0)) / 2
        f1 = best.f1
        precision = Double(best.right) / Double(best.kept)
        recall = Double(best.right) / Double(groundTruth)
        objects = groundTruth
    }
}
