/// One category asked as its own prompt.
public struct CategoryPrompt: Sendable, Equatable {
    public var categoryID: Int
    public var prompt: String
    public init(categoryID: Int, prompt: String) {
        self.categoryID = categoryID
        self.prompt = prompt
    }
}

/// A detection of a vocabulary category.
public struct CategoryDetection: Sendable, Equatable {
    public var categoryID: Int
    public var prompt: String
    public var box: Box
    public var score: Float

    public init(categoryID: Int, prompt: String, box: Box, score: Float) {
        self.categoryID = categoryID
        self.prompt = prompt
        self.box = box
        self.score = score
    }
}

/// How per-prompt detections are merged for one image (the LVIS convention by default).
public struct MergeSettings: Sendable, Equatable {
    /// Keep the best `topN` detections of the image (0 keeps all, for Fixed AP).
    public var topN = 300
    /// Drop detections scoring at or below this.
    public var scoreThreshold: Float = 0
    /// Class-wise non-maximum suppression at this IoU (nil: none, as the official protocol).
    public var nmsIoU: Float?

    public init(topN: Int = 300, scoreThreshold: Float = 0, nmsIoU: Float? = nil) {
        self.topN = topN
        self.scoreThreshold = scoreThreshold
        self.nmsIoU = nmsIoU
    }

    /// The settings as recorded in provenance.
    public var description: [String: String] {
        ["top_n": "\(topN)", "score_threshold": "\(scoreThreshold)", "nms_iou": nmsIoU.map { "\($0)" } ?? "none"]
    }
}

extension MDETRDetector {
    /// LVIS-style querying: the backbone once, every category's prompt (encoded once and cached) through the
    /// transformer, `promptsPerPass` prompts at a time, each query scored 1 − P(no-object) for its prompt's category,
    /// then merged per `settings`. `progress` is told how many prompts are done after each pass.
    public func detect(_ image: RGBImage, vocabulary: [CategoryPrompt], settings: MergeSettings = MergeSettings(),
                       progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [CategoryDetection] {
        let texts = try vocabulary.map { try encode($0.prompt).1 }
        return detections(try prepare(image), prompts: Array(zip(vocabulary, texts)), settings: settings, progress: progress)
    }

    /// The querying itself, on a prepared image and encoded prompts (what the vocabulary benchmark times).
    public func detections(_ prepared: PreparedImage, prompts: [(CategoryPrompt, TextFeatures)], settings: MergeSettings,
                           progress: ((_ done: Int, _ total: Int) -> Void)? = nil) -> [CategoryDetection] {
        var all: [CategoryDetection] = []
        for start in stride(from: 0, to: prompts.count, by: max(1, promptsPerPass)) {
            let pass = prompts[start..<min(start + max(1, promptsPerPass), prompts.count)]
            let outputs = model.forward(image: prepared.features, texts: pass.map(\.1))
            for ((entry, _), output) in zip(pass, outputs) {
                let scores = PostProcess.scores(PostProcess.probabilities(output.logits))
                let boxes = PostProcess.boxes(output.boxes, width: prepared.width, height: prepared.height)
                for q in scores.indices where scores[q] > settings.scoreThreshold {
                    all.append(CategoryDetection(categoryID: entry.categoryID, prompt: entry.prompt, box: boxes[q], score: scores[q]))
                }
            }
            // Bound the candidates kept between passes: only the best topN can survive the merge. NMS needs them all.
            if settings.topN > 0, settings.nmsIoU == nil, all.count > 4 * settings.topN {
                all = Self.merge(all, settings: settings)
            }
            progress?(start + pass.count, prompts.count)
        }
        return Self.merge(all, settings: settings)
    }

    /// Optional class-wise NMS, then the best `topN` (stable by descending score).
    public static func merge(_ detections: [CategoryDetection], settings: MergeSettings) -> [CategoryDetection] {
        var kept = detections
        if let threshold = settings.nmsIoU {
            var byCategory: [Int: [CategoryDetection]] = [:]
            for d in detections { byCategory[d.categoryID, default: []].append(d) }
            kept = []
            for categoryID in byCategory.keys.sorted() {
                var survivors: [CategoryDetection] = []
                for d in byCategory[categoryID]!.sorted(by: { $0.score > $1.score })
                where !survivors.contains(where: { iou($0.box, d.box) > threshold }) {
                    survivors.append(d)
                }
                kept += survivors
            }
        }
        let ordered = kept.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
        }.map(\.element)
        return settings.topN > 0 ? Array(ordered.prefix(settings.topN)) : ordered
    }

    static func iou(_ a: Box, _ b: Box) -> Float {
        let w = min(a.x1, b.x1) - max(a.x0, b.x0), h = min(a.y1, b.y1) - max(a.y0, b.y0)
        guard w > 0, h > 0 else { return 0 }
        let inter = w * h
        return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter)
    }
}
