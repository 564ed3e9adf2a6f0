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

/// A vocabulary asked of an image: its categories, how they are asked, how the answers are merged.
public struct VocabularyQuery: Sendable {
    public var categories: [CategoryPrompt]
    public var strategy: QueryStrategy
    public var merge: MergeSettings
    /// Names the vocabulary's version ("lvis@3") in the text cache's key; the prompts themselves are in it too.
    public var version: String
    /// Keeps the encoded text across restarts (nil: in memory only).
    public var store: (any TextFeatureStore)?

    public init(categories: [CategoryPrompt], strategy: QueryStrategy = .exact, merge: MergeSettings = MergeSettings(),
                version: String = "", store: (any TextFeatureStore)? = nil) {
        self.categories = categories
        self.strategy = strategy
        self.merge = merge
        self.version = version
        self.store = store
    }
}

/// What asking a vocabulary found, and what it cost.
public struct VocabularyAnswer: Sendable {
    public var detections: [CategoryDetection]
    /// Transformer passes run for this image: packed captions plus categories asked one by one.
    public var passes: Int
    /// `shortlist`: the categories asked exactly, in vocabulary order.
    public var shortlist: [Int]?
    /// Whether the vocabulary's encoded text came from the store (false: encoded now, or already in memory).
    public var textFromStore: Bool

    public init(detections: [CategoryDetection], passes: Int, shortlist: [Int]? = nil, textFromStore: Bool = false) {
        self.detections = detections
        self.passes = passes
        self.shortlist = shortlist
        self.textFromStore = textFromStore
    }
}
