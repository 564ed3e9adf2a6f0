import ArgumentParser
import Detector
import Foundation
import Stages
import Store

/// What a checkpoint does not carry: tokenizer files, a text-encoder config, and settings to override.
struct CheckpointOptions: ParsableArguments {
    @Option(name: .customLong("vocab-file"), help: "RoBERTa vocab.json (or BERT vocab.txt) when not next to the checkpoint.")
    var vocabFile: String?

    @Option(name: .customLong("merges-file"), help: "RoBERTa merges.txt when not next to the checkpoint.")
    var mergesFile: String?

    @Option(name: .customLong("text-config"), help: "HuggingFace config.json of a text encoder the checkpoint does not name.")
    var textConfig: String?

    @Option(name: .customLong("set"), help: "Override a setting of the checkpoint's args, e.g. num_queries=100 (repeatable).")
    var settings: [String] = []

    var packageOptions: ModelPackage.Options {
        get throws {
            var overrides: [String: String] = [:]
            for s in settings {
                guard let eq = s.firstIndex(of: "=") else { throw ValidationError("--set expects key=value, got '\(s)'") }
                overrides[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            return ModelPackage.Options(vocabFile: vocabFile, mergesFile: mergesFile, textConfigFile: textConfig,
                                        overrides: overrides)
        }
    }
}

struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Find what a prompt describes in one image; prints JSON.")

    @Argument(help: "A JPEG or PNG image.")
    var image: String

    @Option(name: .long, help: "What to look for (repeatable: each prompt is asked separately).")
    var prompt: [String] = []

    @Option(name: .long, help: "Ask a whole vocabulary instead: a stored vocabulary's name, or an LVIS/COCO JSON or text file of categories.")
    var vocabulary: String?

    @OptionGroup var strategyOptions: StrategyOptions

    @Option(name: .long, help: "An official MDETR .pth checkpoint or an imported model directory.")
    var model: String?

    @OptionGroup var modelOptions: CheckpointOptions

    @Option(name: .long, help: "Keep boxes scoring above this (default: [query] score_threshold, else the model's own, as the daemon).")
    var threshold: Float?

    @OptionGroup var options: CommonOptions

    @Flag(name: .customLong("no-resize"), help: "Feed the image at its own size instead of the 800/1333 evaluation resize.")
    var noResize = false

    @Flag(name: .long, help: "Print every query's logits and normalized box exactly as emitted, with token ids and offsets.")
    var raw = false

    @Option(name: .long, help: "A phrase of the prompt to score every box against (repeatable; its first occurrence).")
    var phrase: [String] = []

    @Option(name: .long, help: "Also draw the detections on the image into this file (.png, .jpg or .jpeg).")
    var save: String?

    func validate() throws {
        if save != nil, raw { throw ValidationError("--save draws detections; --raw prints queries, not detections") }
        if prompt.isEmpty == (vocabulary == nil) { throw ValidationError("give --prompt (one or more) or --vocabulary") }
        if vocabulary != nil, raw || !phrase.isEmpty { throw ValidationError("--raw and --phrase ask prompts, not a vocabulary") }
        if vocabulary == nil, strategyOptions.strategy != nil { throw ValidationError("--strategy says how a --vocabulary is asked") }
    }

    func run() throws {
        // The image first: a wrong path fails at once instead of after loading a model.
        let pixels = try ImageDecoder().decode(file: image)
        guard let path = DefaultModel.resolve(model) else {
            throw ValidationError("no model: pass --model PATH (an official .pth checkpoint or an imported model directory)")
        }
        try DefaultModel.checkPretrainedParts(for: path)
        let detector = try ModelPackage.loadDetector(path, options: try modelOptions.packageOptions)
        if let configured = try threshold ?? options.load().0.query.scoreThreshold.map(Float.init) { detector.threshold = configured }
        if noResize {
            (detector as? MDETRDetector)?.resize = nil
            (detector as? DetCLIPDetector)?.resize = nil
        }
        // Token-level outputs exist only where text and image are fused.
        let fused = detector as? MDETRDetector
        if (raw || !phrase.isEmpty) && fused == nil {
            throw ValidationError("--raw and --phrase read MDETR's token-level outputs; \(path) is a DetCLIPv2 model (ask it with --prompt or --vocabulary)")
        }
        var result: [String: Any] = [
            "image": image, "width": pixels.width, "height": pixels.height,
            "model": ["name": detector.identity.name, "version": detector.identity.version,
                      "weights_sha256": detector.identity.weightsSHA256],
        ]
        if raw, let detector = fused {
            let prepared = try detector.prepare(pixels)
            result["queries"] = try prompt.map { p -> [String: Any] in
                let (encoding, text) = try detector.encode(p)
                let out = detector.run(prepared, text: text)
                let q = out.logits.shape[0]
                return [
                    "prompt": p, "ids": encoding.ids, "offsets": encoding.offsets.map { [$0.lowerBound, $0.upperBound] },
                    "logits": (0..<q).map { Array(out.logits.data[($0 * 256)..<(($0 + 1) * 256)]).map(Double.init) },
                    "boxes": (0..<q).map { Array(out.boxes.data[($0 * 4)..<(($0 + 1) * 4)]).map(Double.init) },
                ]
            }
        } else if let vocabulary {
            let (answer, settings) = try vocabularyDetections(detector, pixels, vocabulary)
            result["detections"] = answer
            result["query"] = settings
        } else if !phrase.isEmpty, let detector = fused {
            result["detections"] = try phraseDetections(detector, pixels)
        } else {
            result["detections"] = try detector.detect(pixels, prompts: prompt).map { d -> [String: Any] in
                ["box": [d.box.x0, d.box.y0, d.box.x1, d.box.y1].map(Double.init), "score": Double(d.score),
                 "phrase": d.label, "prompt": d.prompt]
            }
        }
        if let save, let detections = result["detections"] as? [[String: Any]] {
            try DetectionPainter.write(pixels, boxes: detections.compactMap { d in
                guard let b = d["box"] as? [Double], b.count == 4 else { return nil }
                return PaintedBox(x0: b[0], y0: b[1], x1: b[2], y1: b[3], label: d["phrase"] as? String ?? "", score: d["score"] as? Double ?? 0)
            }, to: save)
            result["saved"] = save
        }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// The vocabulary asked as the daemon asks it (`[query]` template, strategy, top N, NMS, threshold), each box named
    /// after its category.
    private func vocabularyDetections(_ detector: any ImageDetector, _ pixels: RGBImage, _ name: String) throws -> ([[String: Any]], [String: String]) {
        let (config, _) = try options.load()
        let categories: [VocabularyCategory], version: String
        if FileManager.default.fileExists(atPath: name) {
            (categories, _) = try VocabCommand.Import.parse(name)
            version = name
        } else {
            guard let stored = try options.withDatabase(readOnly: true, { _, _, database in try database.latestVocabulary(name: name) }) else {
                throw ValidationError("no vocabulary '\(name)' in the database and no such file (import one with `pipelined vocab import FILE --name \(name)`)")
            }
            (categories, version) = (stored.categories, "\(stored.name)@\(stored.version)")
        }
        let template = config.query.template == "auto" ? detector.preferredTemplate : VocabularyResolver.template(config.query.template)
        let prompts = VocabularyResolver.prompts(categories, template: template)
        let names = Dictionary(zip(prompts.map(\.categoryID), categories.map(\.name)), uniquingKeysWith: { a, _ in a })
        let strategy = strategyOptions.strategy(config.query, fallback: config.query.strategy, detector: detector)
        let merge = MergeSettings(topN: config.query.topN, scoreThreshold: detector.threshold, nmsIoU: config.query.nmsIoU.map(Float.init))
        let answer = try detector.detect(pixels, vocabulary: VocabularyQuery(categories: prompts, strategy: strategy, merge: merge, version: version),
                                         progress: nil)
        var settings = merge.description.merging(strategy.description) { $1 }
        settings["vocabulary"] = version
        settings["categories"] = "\(prompts.count)"
        settings["passes"] = "\(answer.passes)"
        let detections = answer.detections.map { d -> [String: Any] in
            ["box": [d.box.x0, d.box.y0, d.box.x1, d.box.y1].map(Double.init), "score": Double(d.score),
             "phrase": names[d.categoryID] ?? d.prompt, "prompt": d.prompt, "category_id": d.categoryID]
        }
        return (detections, settings)
    }

    /// Per-phrase scores (the official positive-map recipe) for every box above the threshold; the box's phrase is
    /// the best-scoring one.
    private func phraseDetections(_ detector: MDETRDetector, _ pixels: RGBImage) throws -> [[String: Any]] {
        let prepared = try detector.prepare(pixels)
        var out: [[String: Any]] = []
        for p in prompt {
            let scalars = Array(p.unicodeScalars)
            let spans = try phrase.map { text -> [Range<Int>] in
                let needle = Array(text.unicodeScalars)
                guard !needle.isEmpty, let start = (0...max(0, scalars.count - needle.count)).first(where: {
                    $0 + needle.count <= scalars.count && Array(scalars[$0..<($0 + needle.count)]) == needle
                }) else { throw ValidationError("phrase '\(text)' does not occur in the prompt '\(p)'") }
                return [start..<(start + needle.count)]
            }
            for b in try detector.phraseScores(prepared, caption: p, phrases: spans.map { $0[0] }) {
                out.append(["box": [b.box.x0, b.box.y0, b.box.x1, b.box.y1].map(Double.init), "score": Double(b.score),
                            "phrase": b.phrase, "prompt": p,
                            "phrase_scores": Dictionary(uniqueKeysWithValues: zip(phrase, b.phraseScores.map(Double.init)))])
            }
        }
        return out.sorted { ($0["score"] as? Double ?? 0) > ($1["score"] as? Double ?? 0) }
    }
}
