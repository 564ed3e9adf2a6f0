import Detector
import Foundation
import Pipeline

/// The labels a model version learned from: every import up to `uptoImport` of `vocabulary`.
struct FineTuneSnapshot: Codable, Equatable {
    var uptoImport: Int
    var vocabulary: String
    var trainImages: Int?
    var heldoutImages: Int?

    enum CodingKeys: String, CodingKey {
        case uptoImport = "upto_import", vocabulary, trainImages = "train_images", heldoutImages = "heldout_images"
    }

    init(uptoImport: Int, vocabulary: String, trainImages: Int? = nil, heldoutImages: Int? = nil) {
        (self.uptoImport, self.vocabulary, self.trainImages, self.heldoutImages) = (uptoImport, vocabulary, trainImages, heldoutImages)
    }

    init?(json: String?) {
        guard let json, let s = try? JSONDecoder().decode(FineTuneSnapshot.self, from: Data(json.utf8)) else { return nil }
        self = s
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

extension FineTuneSettings {
    func hyperparameters(vocabulary: String) -> String {
        FineTuner.json(["steps": steps, "batch": batch, "lr": lr, "lr_text_encoder": lrTextEncoder, "sampling": sampling,
                        "repeat_threshold": repeatThreshold, "vocabulary": vocabulary, "negatives": "all",
                        "packed_per_image": packedPerImage])
    }

    /// A `pipelined train` config for a run: MDETR's few-shot records (every negative), from the parent's weights
    /// and input size, the run's exported labels, EMA off (a short run from a trained model).
    func trainingConfig(parent: String, runDirectory: String, archiveRoot: String, name: String, runID: Int) throws -> TrainingConfig {
        let manifest = try ModelPackage.manifest(directory: parent)
        let m = manifest.config
        guard m.backbone == "efficientnet_lite0", manifest.parts != nil else {
            throw TrainingError("fine-tuning supports the default model's family (EfficientNet-Lite0 + MiniLM-L6 with pretrained parts); \(parent) is \(m.backbone)")
        }
        var c = TrainingConfig()
        c.configPath = parent + "/manifest.json"
        c.name = name
        c.output = runDirectory + "/model"
        c.checkpointDirectory = runDirectory + "/checkpoint"
        c.train = runDirectory + "/train.json"
        c.val = runDirectory + "/heldout.json"
        c.images = archiveRoot
        c.negativesPerImage = -1
        c.packedPerImage = packedPerImage
        c.sampling = sampling
        c.repeatThreshold = repeatThreshold
        c.valImages = evalImages
        if let resize = manifest.resize, resize.count == 2 { (c.imageSize, c.imageMax) = (resize[0], resize[1]) }
        (c.hidden, c.heads, c.encoderLayers, c.decoderLayers) = (m.hidden, m.heads, m.encoderLayers, m.decoderLayers)
        (c.feedForward, c.queries, c.contrastiveDim) = (m.feedForward, m.queries, m.contrastiveDim)
        if let detclip = manifest.detclip {
            // A DetCLIPv2 parent fine-tunes as DetCLIPv2: few-shot labels become region–concept targets.
            c.family = "detclip"
            (c.channels, c.levels, c.stackedConvs, c.alignDim) = (detclip.channels, detclip.levels, detclip.stackedConvs, detclip.alignDim)
            c.clip = 10
        }
        c.initFrom = parent
        c.batch = batch
        c.maxSteps = steps
        c.epochs = 1_000_000   // bounded by max_steps
        c.lr = lr
        c.lrTextEncoder = lrTextEncoder
        c.ema = false
        c.checkpointEvery = checkpointEvery
        c.seed = runID
        return c
    }

    /// Whether a candidate may replace the active model, judged on the same held-out labels. A metric the labels
    /// cannot measure (−1: no rare category among them) does not count.
    public func gate(candidate: [String: Double], parent: [String: Double]) -> (passed: Bool, reason: String) {
        var failures: [String] = [], notes: [String] = []
        for (key, allowed) in [("AP", maxAPDrop), ("APr", maxAPrDrop)] {
            let c = candidate[key] ?? -1, p = parent[key] ?? -1
            guard c >= 0, p >= 0 else { notes.append("\(key) not measurable on these labels"); continue }
            let line = "\(key) \(String(format: "%.4f", c)) vs \(String(format: "%.4f", p))"
            if c < p - allowed { failures.append(line + " (worse)") } else { notes.append(line) }
        }
        if failures.isEmpty && notes.allSatisfy({ $0.hasSuffix("not measurable on these labels") }) {
            return (false, "nothing measurable on the held-out labels")
        }
        return failures.isEmpty ? (true, notes.joined(separator: ", ")) : (false, (failures + notes).joined(separator: ", "))
    }
}
