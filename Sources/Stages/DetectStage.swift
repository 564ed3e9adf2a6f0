import Detector
import Foundation
import Pipeline

/// Runs the detector on the decoded image with the configured prompts. The detector is not re-entrant: calls are
/// serialised here whatever the stage's configured concurrency.
public final class DetectStage: Stage, @unchecked Sendable {
    public let name = "detect"
    private let detector: any ImageDetector
    private let prompts: [String]
    private let lock = NSLock()

    public init(detector: any ImageDetector, prompts: [String]) {
        self.detector = detector
        self.prompts = prompts
    }

    public func run(_ item: WorkItem) throws -> StageResult {
        guard let image = item[WorkKeys.image] else {
            preconditionFailure("detect runs after decode")
        }
        lock.lock()
        defer { lock.unlock() }
        item[WorkKeys.detections] = try detector.detect(image, prompts: prompts)
        item[WorkKeys.model] = detector.identity
        item[WorkKeys.settings] = ["prompts": prompts.joined(separator: " | ")]
        // The pixels are the biggest thing a job holds; nothing after detection needs them.
        item.remove(WorkKeys.image)
        return .next
    }
}
