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
        // The score threshold is the job's model's (`ImageDetector.threshold`: the configured one, else its own).
        let merge = MergeSettings(topN: query.topN, nmsIoU: query.nmsIoU.map(Float.init))
        let vocabularies = VocabularyResolver(database: database, inboxes: config.effectiveInboxes, query: query)
        return StageChain(DecodeStage(limits: limits))
            .then(DetectStage(slot: slot, groundingDetector: grounding, prompts: prompts, vocabularies: vocabularies, merge: merge,
                              textStore: TextFeatureDirectory(path: config.stateDirectory + "/text-cache")))
            .then(RecordStage(database: database))
            .stages
    }
}
