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
    /// transformer, each query scored 1 − P(no-object) for its prompt's category, then merged per `settings`.
    public func detect(_ image: RGBImage, vocabulary: [CategoryPrompt], settings: MergeSettings = MergeSettings()) throws
        -> [CategoryDetection] {
        let prepared = try prepare(image)
        var all: [CategoryDetection] = []
        for entry in vocabulary {
            let (_, text) = try encode(entry.prompt)
            let outputs = run(prepared, text: text)
            let scores = PostProcess.scores(PostProcess.probabilities(outputs.logits))
            let boxes = PostProcess.boxes(outputs.boxes, width: prepared.width, height: prepared.height)
            for q in scores.indices where scores[q] > settings.scoreThreshold {
                all.append(CategoryDetection(categoryID: entry.categoryID, prompt: entry.prompt, box: boxes[q], score: scores[q]))
            }
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
