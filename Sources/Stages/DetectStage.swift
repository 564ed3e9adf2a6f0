import Detector
import Foundation
import Logging
import Pipeline
import Store

/// Runs the detector on the decoded image with the image's questions: its sidecar's, its inbox's vocabulary, the
/// configured prompts, or — when none are configured — the running model's own vocabulary (the default model's
/// categories), else `Config.defaultPrompts`. The detector is not re-entrant: calls are
/// serialised here whatever the stage's configured concurrency. The detector comes from a `ModelSlot`, read once per
/// job: a model switch happens between jobs. With a grounding model beside it (`model.grounding_path`), caption
/// sidecars go to that one — MDETR reads a caption as a whole — and everything else to the slot's (DetCLIPv2 answers a
/// vocabulary in one pass); provenance names the model that answered the caption (`caption_model`).
public final class DetectStage: TypedStage, @unchecked Sendable {
    public let name = "detect"
    private let slot: ModelSlot
    /// Answers caption sidecars instead of the slot's model (nil: the slot's model answers everything).
    private let groundingDetector: (any ImageDetector)?
    /// nil: none configured (the model's own vocabulary, else the default prompts).
    private let prompts: [String]?
    private let vocabularies: VocabularyResolver?
    /// top N and NMS; the score threshold is the job's model's (`ImageDetector.threshold`).
    private let merge: MergeSettings
    /// Where vocabularies' encoded text outlives the process.
    private let textStore: (any TextFeatureStore)?
    private let lock = NSLock()
    private let logger: Logger
    /// A vocabulary job taking longer than this logs its progress this often.
    public var progressInterval: TimeInterval = 10

    public convenience init(detector: any ImageDetector, prompts: [String]?, vocabularies: VocabularyResolver? = nil,
                            merge: MergeSettings = MergeSettings(), textStore: (any TextFeatureStore)? = nil,
                            logger: Logger = Logger(label: "pipelined.detect")) {
        self.init(slot: ModelSlot(detector), prompts: prompts, vocabularies: vocabularies, merge: merge, textStore: textStore,
                  logger: logger)
    }

    public init(slot: ModelSlot, groundingDetector: (any ImageDetector)? = nil, prompts: [String]?,
                vocabularies: VocabularyResolver? = nil, merge: MergeSettings = MergeSettings(),
                textStore: (any TextFeatureStore)? = nil, logger: Logger = Logger(label: "pipelined.detect")) {
        self.slot = slot
        self.groundingDetector = groundingDetector
        self.logger = logger
        self.prompts = prompts
        self.vocabularies = vocabularies
        self.merge = merge
        self.textStore = textStore
    }

    public func run(_ input: DecodedImage, _ item: WorkItem) throws -> StageOutput<DetectedImage> {
        let image = input.image
        // A sidecar's questions replace the inbox's (vocabulary or prompts) unless it asks for both.
        let sidecar = item.job.queries.flatMap(SidecarQueries.decode(stored:))
        var askDefaults = sidecar.map { $0.vocabulary } ?? true
        // Cached; read outside the lock, with the template of the model in the slot now (the model's own, unless one
        // is configured).
        let template = vocabularies?.template(for: slot.detector) ?? .cleanName
        let inboxVocabulary = try vocabularies?.prompts(forInbox: item.job.inbox, template: template)
        lock.lock()
        defer { lock.unlock() }
        let (detector, ownVocabulary) = slot.model   // this job's model, whatever happens to the slot meanwhile
        var detections: [Detection] = []
        var settings: [String: String] = [:]
        var passes = 0   // transformer passes asked of the model: one per prompt, caption or category
        var asked: (id: Int, version: Int)?
        if let sidecar {
            settings["queries"] = "sidecar"
            settings["phrases"] = sidecar.phraseTexts.joined(separator: " | ")
            do {
                if let caption = sidecar.caption {
                    let grounding = groundingDetector ?? detector
                    detections += try grounding.detect(image, caption: caption, phrases: sidecar.ranges)
                    settings["caption"] = caption
                    settings["caption_model"] = "\(grounding.identity.name)@\(grounding.identity.version)"
                    passes += 1
                } else if !sidecar.phrases.isEmpty {
                    // Each phrase is its own prompt; its boxes are named after it.
                    detections += try detector.detect(image, prompts: sidecar.phrases).map {
                        Detection(box: $0.box, score: $0.score, label: $0.prompt, prompt: $0.prompt)
                    }
                    passes += sidecar.phrases.count
                }
            } catch let error as DetectorError {
                // Questions this model cannot ask (too long for it, say) are the sidecar's fault, not the image's:
                // the image gets its inbox's questions and the reason is recorded with the results.
                logger.warning("sidecar questions not asked", metadata: ["job.id": "\(item.job.jobID)", "error": "\(error)"])
                settings["sidecar_error"] = "\(error)"
                askDefaults = true
            }
        }
        var vocabulary = askDefaults ? inboxVocabulary : nil
        if askDefaults, vocabulary == nil, prompts == nil, let ownVocabulary, let resolver = vocabularies {
            // The model's own vocabulary is a default, not a configured question: if it cannot be read, the image is
            // asked the default prompts (and the reason kept with its results) rather than failing.
            do { vocabulary = try resolver.prompts(vocabulary: ownVocabulary, for: item.job.inbox, template: template) } catch {
                logger.warning("the model's own vocabulary cannot be read; asking the default prompts",
                               metadata: ["vocabulary": "\(ownVocabulary)", "error": "\(error)"])
                settings["vocabulary_error"] = "\(error)"
            }
        }
        let prompts = self.prompts ?? Config.defaultPrompts
        if let (stored, categoryPrompts) = vocabulary, let resolver = vocabularies {
            let strategy = resolver.strategy(forInbox: item.job.inbox, detector: detector)
            var merge = self.merge
            merge.scoreThreshold = detector.threshold   // one threshold for every question, the job's model's
            let query = VocabularyQuery(categories: categoryPrompts, strategy: strategy, merge: merge,
                                        version: "\(stored.name)@\(stored.version) \(VocabularyResolver.name(of: template))", store: textStore)
            let answer = try vocabularyDetections(detector, image, stored: stored, query: query, job: item.job.jobID)
            detections += answer.detections
            passes += answer.passes
            asked = (stored.id, stored.version)
            settings.merge(merge.description.merging(strategy.description) { $1 }.merging([
                "vocabulary": "\(stored.name)@\(stored.version)", "template": VocabularyResolver.name(of: template),
                "categories": "\(categoryPrompts.count)", "vocabulary_passes": "\(answer.passes)",
            ]) { $1 }) { $1 }
            if let shortlist = answer.shortlist { settings["shortlist"] = shortlist.map(String.init).joined(separator: ",") }
        } else if askDefaults {
            detections += try detector.detect(image, prompts: prompts)
            settings["prompts"] = prompts.joined(separator: " | ")
            passes += prompts.count
        }
        // top_n holds for every kind of question: prompts and sidecars add up to a box per query each.
        if merge.topN > 0, detections.count > merge.topN {
            detections = Array(detections.sorted { $0.score > $1.score }.prefix(merge.topN))
        }
        settings["detect_passes"] = "\(passes)"
        item.summary["detections"] = "\(detections.count)"
        item.summary["passes"] = "\(passes)"
        // The pixels, the biggest thing a job holds, are not handed on: freed when this returns.
        return .next(DetectedImage(width: image.width, height: image.height, detections: detections, model: detector.identity,
                                   settings: settings, vocabulary: asked))
    }

    /// The vocabulary asked, merged; progress logged every `progressInterval` seconds of a long job.
    private func vocabularyDetections(_ detector: any ImageDetector, _ image: RGBImage, stored: StoredVocabulary,
                                      query: VocabularyQuery, job: Int) throws -> (detections: [Detection], passes: Int, shortlist: [Int]?) {
        let names = Dictionary(stored.categories.compactMap { c in c.id.map { ($0, c.name) } }, uniquingKeysWith: { a, _ in a })
        let started = Date()
        var lastReport = started
        let progress = { [logger, progressInterval] (done: Int, total: Int) in
            let now = Date()
            guard now.timeIntervalSince(lastReport) >= progressInterval else { return }
            lastReport = now
            let elapsed = now.timeIntervalSince(started)
            let eta = elapsed / Double(max(done, 1)) * Double(total - done)
            logger.info("job \(job): \(done)/\(total) passes of \(stored.name)@\(stored.version) (\(query.strategy.name)), \(Int(elapsed)) s, about \(Int(eta)) s left")
        }
        let answer = try detector.detect(image, vocabulary: query, progress: progress)
        if answer.textFromStore {
            logger.info("vocabulary text read from the cache", metadata: ["vocabulary": "\(stored.name)@\(stored.version)",
                                                                          "strategy": "\(query.strategy.name)"])
        }
        let detections = answer.detections.map {
            Detection(box: $0.box, score: $0.score, label: names[$0.categoryID] ?? $0.prompt, prompt: $0.prompt,
                      categoryID: $0.categoryID)
        }
        return (detections, answer.passes, answer.shortlist)
    }
}
