import Detector
import Pipeline
import Store

/// The stage chain the daemon runs for each image: decode → detect → record.
public enum StandardStages {
    public static func make(database: Database, config: Config, detector: any ImageDetector,
                            prompts: [String]) -> [any Stage] {
        let limits = DecodeLimits(maxFileBytes: config.limits.maxFileBytes, maxSide: config.limits.maxSide,
                                  maxPixels: config.limits.maxPixels)
        return [
            DecodeStage(limits: limits),
            DetectStage(detector: detector, prompts: prompts),
            RecordStage(database: database),
        ]
    }
}
