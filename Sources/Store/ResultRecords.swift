/// One detection to store.
public struct DetectionRow: Sendable {
    public var label: String
    public var prompt: String?
    public var categoryID: Int?
    public var score: Double
    public var box: (x0: Double, y0: Double, x1: Double, y1: Double)

    public init(label: String, prompt: String?, categoryID: Int?, score: Double,
                box: (x0: Double, y0: Double, x1: Double, y1: Double)) {
        self.label = label
        self.prompt = prompt
        self.categoryID = categoryID
        self.score = score
        self.box = box
    }
}

/// What produced a job's results.
public struct ProvenanceRow: Sendable {
    public var modelID: Int?
    public var modelVersion: String
    public var weightsSHA256: String
    public var vocabularyID: Int?
    public var vocabularyVersion: Int?
    public var codeVersion: String
    public var host: String
    public var timingsMS: [String: Double]
    public var settings: [String: String]

    public init(modelID: Int? = nil, modelVersion: String, weightsSHA256: String, vocabularyID: Int? = nil,
                vocabularyVersion: Int? = nil, codeVersion: String, host: String,
                timingsMS: [String: Double] = [:], settings: [String: String] = [:]) {
        self.modelID = modelID
        self.modelVersion = modelVersion
        self.weightsSHA256 = weightsSHA256
        self.vocabularyID = vocabularyID
        self.vocabularyVersion = vocabularyVersion
        self.codeVersion = codeVersion
        self.host = host
        self.timingsMS = timingsMS
        self.settings = settings
    }
}
