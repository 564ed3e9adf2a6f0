import Detector
import Foundation

/// The detector the daemon runs, replaceable while it runs (issue 6). The detect stage takes the current detector
/// once per job, so a promotion takes effect at the next job and never changes the model in the middle of one.
public final class ModelSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var current: any ImageDetector
    private var currentID: Int?
    private var currentVocabulary: String?

    /// `vocabulary`: the vocabulary (by name) the model was trained on, if it has one; inboxes told to ask nothing in
    /// particular are asked it, so the questions follow the model when it is switched.
    public init(_ detector: any ImageDetector, modelID: Int? = nil, vocabulary: String? = nil) {
        current = detector
        currentID = modelID
        currentVocabulary = vocabulary
    }

    /// The detector and its own vocabulary, read together.
    public var model: (detector: any ImageDetector, vocabulary: String?) {
        lock.lock()
        defer { lock.unlock() }
        return (current, currentVocabulary)
    }

    public var detector: any ImageDetector {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// The registered model (`models.id`) now in the slot, if it is registered.
    public var modelID: Int? {
        lock.lock()
        defer { lock.unlock() }
        return currentID
    }

    public func replace(with detector: any ImageDetector, modelID: Int?, vocabulary: String? = nil) {
        lock.lock()
        current = detector
        currentID = modelID
        currentVocabulary = vocabulary
        lock.unlock()
    }
}
