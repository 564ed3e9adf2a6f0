/// A box in image pixels (of the image as given, after orientation), corners (x0, y0) top-left, (x1, y1)
/// bottom-right.
public struct Box: Sendable, Equatable {
    public var x0: Float, y0: Float, x1: Float, y1: Float

    public init(x0: Float, y0: Float, x1: Float, y1: Float) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }

    /// Intersection over union (0 when they do not overlap or either has no area).
    public func iou(_ b: Box) -> Float {
        let w = min(x1, b.x1) - max(x0, b.x0), h = min(y1, b.y1) - max(y0, b.y0)
        guard w > 0, h > 0 else { return 0 }
        let inter = w * h, union = (x1 - x0) * (y1 - y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
        return union > 0 ? inter / union : 0
    }

    /// Greedy non-maximum suppression: of `order` (best first), the indices kept — each overlapping no better kept
    /// box by more than `threshold`.
    public static func suppress(_ boxes: [Box], order: [Int], threshold: Float, limit: Int = .max) -> [Int] {
        var kept: [Int] = []
        for i in order where kept.count < limit {
            if !kept.contains(where: { boxes[$0].iou(boxes[i]) > threshold }) { kept.append(i) }
        }
        return kept
    }
}

/// One thing found: where, how sure, and which words of which prompt it answers.
public struct Detection: Sendable, Equatable {
    public var box: Box
    /// In [0, 1].
    public var score: Float
    /// The class name or phrase the box was found for.
    public var label: String
    /// The full caption the model was asked.
    public var prompt: String
    /// The vocabulary category (its stored id) when the prompt was a category's.
    public var categoryID: Int?

    public init(box: Box, score: Float, label: String, prompt: String, categoryID: Int? = nil) {
        self.box = box
        self.score = score
        self.label = label
        self.prompt = prompt
        self.categoryID = categoryID
    }
}

/// What names a model in provenance records.
public struct ModelIdentity: Sendable, Equatable {
    public var name: String
    public var version: String
    /// sha256 of the weights file, hex.
    public var weightsSHA256: String

    public init(name: String, version: String, weightsSHA256: String) {
        self.name = name
        self.version = version
        self.weightsSHA256 = weightsSHA256
    }
}

/// The library's public detection API: pixels and prompts in, typed detections out. Implementations are plain
/// synchronous code; the caller decides on which queue they run and must not call one instance concurrently.
public protocol ImageDetector: AnyObject, Sendable {
    var identity: ModelIdentity { get }
    /// Free-text prompts: the boxes each prompt's words ground.
    func detect(_ image: RGBImage, prompts: [String]) throws -> [Detection]
    /// Grounding: a caption and its phrases as character spans; each box is labelled with its best phrase.
    func detect(_ image: RGBImage, caption: String, phrases: [Range<Int>]) throws -> [Detection]
    /// LVIS-style: the vocabulary asked by `query.strategy`, the detections merged per `query.merge`; `progress` hears
    /// (passes done, passes in all) as the work goes on.
    func detect(_ image: RGBImage, vocabulary query: VocabularyQuery,
                progress: ((_ done: Int, _ total: Int) -> Void)?) throws -> VocabularyAnswer
    /// Whether the model was measured to answer packed captions (several categories per caption) nearly as well as
    /// one category at a time: `[query] strategy = "auto"` then asks it by shortlist.
    var answersPackedPrompts: Bool { get }
    /// How the model was trained to read a category (a vocabulary's prompts should be made the same way).
    var preferredTemplate: PromptTemplate { get }
    /// Free-text prompts and grounding keep boxes scoring above this.
    var threshold: Float { get set }
    /// Refuses a prompt the model cannot read (empty, too long), with the reason — before it fails every job.
    func check(prompt: String) throws
}

extension ImageDetector {
    /// Unless a model says otherwise, it was never shown packed captions.
    public var answersPackedPrompts: Bool { false }

    /// MDETR's own: the clean name.
    public var preferredTemplate: PromptTemplate { .cleanName }

    public func check(prompt: String) throws {
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw DetectorError.emptyPrompt }
    }

    /// The exact protocol (one prompt per category), merged per `settings`.
    public func detect(_ image: RGBImage, vocabulary: [CategoryPrompt], settings: MergeSettings = MergeSettings(),
                       progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> [CategoryDetection] {
        try detect(image, vocabulary: VocabularyQuery(categories: vocabulary, merge: settings), progress: progress).detections
    }
}
