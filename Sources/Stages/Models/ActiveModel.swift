import Detector
import Foundation
import Logging
import Store

/// Keeps the daemon on the model PostgreSQL calls active (issue 6). At start-up the configured model is registered;
/// a model configured for the first time becomes active, otherwise the active version stays (a fine-tuned
/// descendant, or an operator's promotion). While running, the active model is checked every `interval` seconds;
/// a newly promoted version is loaded off the detect path and swapped into the slot between jobs.
public final class ActiveModel: @unchecked Sendable {
    public let slot: ModelSlot
    let database: Database
    let load: @Sendable (String) throws -> any ImageDetector
    let vocabularyOf: @Sendable (String, Int) throws -> String?
    let logger: Logger
    private var timer: DispatchSourceTimer?
    private let queue = DispatchQueue(label: "pipelined.models", qos: .utility)
    /// A version that failed to load is not retried until the active model changes again.
    private var failedID: Int?

    /// Registers `configured` (loaded from `path`) and returns the daemon's model: the active one.
    /// `metricsJSON`: what the model's manifest says it scored (shown by `pipelined model list`). `vocabularyOf`: the
    /// vocabulary a model (directory, id) was trained on, if any, kept in the slot with it.
    public init(database: Database, configured: any ImageDetector, path: String, configJSON: String = "{}",
                metricsJSON: String = "{}",
                logger: Logger, vocabularyOf: @escaping @Sendable (_ path: String, _ modelID: Int) throws -> String? = { _, _ in nil },
                load: @escaping @Sendable (String) throws -> any ImageDetector) throws {
        self.database = database
        self.load = load
        self.vocabularyOf = vocabularyOf
        self.logger = logger
        let identity = configured.identity
        let label = "\(identity.name)@\(identity.version)"
        let known = try database.model(named: label)
        let id = try database.registerModel(NewModel(name: identity.name, version: identity.version, weightsSHA256: identity.weightsSHA256,
                                                     configJSON: configJSON, path: path, metricsJSON: metricsJSON))
        slot = ModelSlot(configured, modelID: id)
        slot.replace(with: configured, modelID: id, vocabulary: ownVocabulary(path: path, modelID: id))
        let active = try database.activeModel()
        if known == nil || active == nil {
            if active?.id != id {
                try database.promoteModel(id: id, reason: known == nil ? "configured (model.path or the default model)" : "no model was active")
            }
        } else if let active {
            swapIfNeeded(to: active)   // a fine-tuned or promoted version stays in charge across restarts
        }
    }

    /// Checks for a promotion every `interval` seconds.
    public func watch(every interval: Double) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [self] in check() }   // the timer keeps the watcher alive until `stopWatching`
        timer.resume()
        self.timer = timer
    }

    /// Stops the checks `watch` started (the daemon's model-switcher service stopping).
    public func stopWatching() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    /// Looks at the active model now (tests, `SIGHUP`).
    public func check() {
        do {
            guard let active = try database.activeModel() else { return }
            swapIfNeeded(to: active)
        } catch {
            logger.warning("cannot read the active model; keeping the current one", metadata: ["error": "\(error)"])
        }
    }

    private func swapIfNeeded(to active: ModelRecord) {
        guard active.id != slot.modelID, active.id != failedID else { return }
        guard let path = active.path else {
            failedID = active.id
            logger.error("the active model has no directory on record; keeping the current one", metadata: ["model": "\(active.label)"])
            return
        }
        do {
            let detector = try load(path)
            guard detector.identity.weightsSHA256 == active.weightsSHA256 else {
                throw ModelSwitchError(reason: "\(path) holds weights \(detector.identity.weightsSHA256.prefix(12)), not the registered \(active.weightsSHA256.prefix(12))")
            }
            let vocabulary = ownVocabulary(path: path, modelID: active.id)
            slot.replace(with: detector, modelID: active.id, vocabulary: vocabulary)
            failedID = nil
            // Inboxes configured to ask nothing in particular now ask this model's own vocabulary, or the prompts.
            logger.notice("model switched", metadata: ["model": "\(active.label)", "reason": "\(active.statusReason ?? "")",
                                                       "own_vocabulary": "\(vocabulary ?? "none")"])
        } catch {
            failedID = active.id
            logger.error("cannot load the active model; keeping the current one", metadata: ["model": "\(active.label)", "error": "\(error)"])
        }
    }
}

extension ActiveModel {
    /// The model's own vocabulary; a failure to read it costs only that (its inboxes are asked the prompts).
    func ownVocabulary(path: String, modelID: Int) -> String? {
        do { return try vocabularyOf(path, modelID) } catch {
            logger.warning("cannot read the model's own vocabulary", metadata: ["path": "\(path)", "error": "\(error)"])
            return nil
        }
    }
}

struct ModelSwitchError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
