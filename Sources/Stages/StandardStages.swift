import Detector
import Pipeline
import Store

/// The stage chain the daemon runs for each image: decode → detect → record.
public enum StandardStages {
    /// `prompts`: nil when none are configured (the model's own vocabulary is asked, else the default prompts).
    public static func make(database: Database, config: Config, detector: any ImageDetector,
                            prompts: [String]?) -> [any Stage] {
        make(database: database, config: config, slot: ModelSlot(detector), prompts: prompts)
    }

    /// `grounding`: a second model answering caption sidecars (`model.grounding_path`).
    public static func make(database: Database, config: Config, slot: ModelSlot, grounding: (any ImageDetector)? = nil,
                            prompts: [String]?) -> [any Stage] {
        let limits = DecodeLimits(maxFileBytes: config.limits.maxFileBytes, maxSide: config.limits.maxSide,
                                  maxPixels: config.limits.maxPixels)
        let query = config.query
        let merge = MergeSettings(topN: query.topN, scoreThreshold: Float(query.scoreThreshold),
                                  nmsIoU: query.nmsIoU.map(Float.init))
        let vocabularies = VocabularyResolver(database: database, inboxes: config.effectiveInboxes, query: query)
        return StageChain(DecodeStage(limits: limits))
            .then(DetectStage(slot: slot, groundingDetector: grounding, prompts: prompts, vocabularies: vocabularies, merge: merge,
                              textStore: TextFeatureDirectory(path: config.stateDirectory + "/text-cache")))
            .then(RecordStage(database: database))
            .stages
    }
}
