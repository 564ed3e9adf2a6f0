import Detector
import Foundation
import Logging
import Pipeline

/// Runs the detector on the decoded image with the configured prompts. The detector is not re-entrant: calls are
/// serialised here whatever the stage's configured concurrency.
public final class DetectStage: Stage, @unchecked Sendable {
    public let name = "detect"
    private let detector: any ImageDetector
    private let prompts: [String]
    private let vocabularies: VocabularyResolver?
    private let merge: MergeSettings
    private let lock = NSLock()
    private let logger: Logger
    /// A vocabulary job taking longer than this logs its progress this often.
    public var progressInterval: TimeInterval = 10

    public init(detector: any ImageDetector, prompts: [String], vocabularies: VocabularyResolver? = nil,
                merge: MergeSettings = MergeSettings(), logger: Logger = Logger(label: "pipelined.detect")) {
        self.detector = detector
        self.logger = logger
        self.prompts = prompts
        self.vocabularies = vocabularies
        self.merge = merge
    }

    public func run(_ item: WorkItem) throws -> StageResult {
        guard let image = item[WorkKeys.image] else {
            preconditionFailure("detect runs after decode")
        }
        let vocabulary = try vocabularies?.prompts(forInbox: item.job.inbox)
        lock.lock()
        defer { lock.unlock() }
        if let (stored, categoryPrompts) = vocabulary, let resolver = vocabularies {
            let names = Dictionary(stored.categories.compactMap { c in c.id.map { ($0, c.name) } }, uniquingKeysWith: { a, _ in a })
            let started = Date()
            var lastReport = started
            let progress = { [logger, progressInterval, job = item.job.jobID] (done: Int, total: Int) in
                let now = Date()
                guard now.timeIntervalSince(lastReport) >= progressInterval else { return }
                lastReport = now
                let elapsed = now.timeIntervalSince(started)
                let eta = elapsed / Double(max(done, 1)) * Double(total - done)
                logger.info("job \(job): \(done)/\(total) prompts of \(stored.name)@\(stored.version), \(Int(elapsed)) s, about \(Int(eta)) s left")
            }
            item[WorkKeys.detections] = try detector.detect(image, vocabulary: categoryPrompts, settings: merge,
                                                            progress: progress).map {
                Detection(box: $0.box, score: $0.score, label: names[$0.categoryID] ?? $0.prompt, prompt: $0.prompt,
                          categoryID: $0.categoryID)
            }
            item[WorkKeys.vocabulary] = (stored.id, stored.version)
            item[WorkKeys.settings] = merge.description.merging([
                "vocabulary": "\(stored.name)@\(stored.version)", "template": resolver.templateName,
                "prompts_per_image": "\(categoryPrompts.count)",
            ]) { $1 }
        } else {
            item[WorkKeys.detections] = try detector.detect(image, prompts: prompts)
            item[WorkKeys.settings] = ["prompts": prompts.joined(separator: " | ")]
        }
        item[WorkKeys.model] = detector.identity
        // The pixels are the biggest thing a job holds; nothing after detection needs them.
        item.remove(WorkKeys.image)
        return .next
    }
}
