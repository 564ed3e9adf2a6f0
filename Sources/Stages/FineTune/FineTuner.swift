import Detector
import Foundation
import Logging
import Pipeline
import Store

/// The daemon's fine-tuning stage (issue 6). When enough new labelled images have arrived in the labels vocabulary
/// (or an operator asks), it fine-tunes the active model on them on a low-priority thread, evaluates the candidate
/// and the active model on the held-out labels, and promotes the candidate only if it passes the gate; a rejected
/// candidate is kept with its metrics and the reason. A run is a row of `fine_tune_runs` with its checkpoint
/// directory, so a daemon restarted mid-run resumes it.
public final class FineTuner: @unchecked Sendable {
    let database: Database
    let settings: FineTuneSettings
    let labels: LabelSettings
    let stateDirectory: String, archiveRoot: String
    let logger: Logger
    private let lock = NSLock()
    private var stopping = false
    /// The run whose labels the trigger last found used up (said once, not every look).
    private var waitingAfterRun: Int?
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    public init(database: Database, settings: FineTuneSettings, labels: LabelSettings, stateDirectory: String,
                archiveRoot: String, logger: Logger) {
        self.database = database
        self.settings = settings
        self.labels = labels
        self.stateDirectory = stateDirectory
        self.archiveRoot = archiveRoot
        self.logger = logger
    }

    /// Starts the checking loop on its own thread at the lowest CPU priority.
    public func start() {
        let thread = Thread { [self] in
            // Linux keeps a nice value per thread (who = 0 is the calling thread): this one, and the BLAS calls it
            // makes serially on itself, run at nice 19, so detection keeps the cores it needs while a run trains.
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            while !isStopping {
                do { try tick() } catch is TrainingSession.Stopped {
                    break
                } catch {
                    logger.error("fine-tuning check failed; trying again later", metadata: ["error": "\(error)"])
                }
                for _ in 0..<Int(settings.checkIntervalSeconds * 10) where !isStopping { Thread.sleep(forTimeInterval: 0.1) }
            }
            finished.signal()
        }
        thread.name = "pipelined.finetune"
        self.thread = thread
        thread.start()
    }

    /// Stops at the next step; a running run keeps its checkpoint and resumes at the next start.
    public func stop() {
        lock.lock()
        let wasRunning = thread != nil && !stopping
        stopping = true
        lock.unlock()
        if wasRunning { finished.wait() }
    }

    var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    /// One look: resume a run left running, or start one if the trigger holds.
    func tick() throws {
        if let run = try database.runningFineTune() {
            logger.notice("resuming fine-tuning run", metadata: ["run": "\(run.id)", "step": "\(run.stepsDone)/\(run.stepsTotal)"])
            try execute(run)
            return
        }
        guard let active = try database.activeModel(), let parentPath = active.path else { return }
        guard let vocabulary = try database.latestVocabulary(name: labels.vocabulary) else { return }
        let snapshot = FineTuneSnapshot(json: active.labelSnapshotJSON)
        let counts = try database.labelCounts(vocabularyID: vocabulary.id, afterImport: snapshot?.uptoImport ?? 0)
        let sinceLast = try database.hoursSinceLastFineTune() ?? .infinity
        let scheduled = settings.everyHours > 0 && counts.train > 0 && sinceLast >= settings.everyHours
        guard counts.train >= settings.minNewImages || scheduled else { return }
        let all = try database.labelCounts(vocabularyID: vocabulary.id)
        // A run that failed or was rejected on these labels is not repeated: the next one waits for new labels.
        if let last = try database.latestFineTune(), last.status != "promoted", last.uptoImport >= all.newestImport {
            if waitingAfterRun != last.id {
                waitingAfterRun = last.id
                logger.notice("fine-tuning waits for new labels", metadata: ["after_run": "\(last.id)", "status": "\(last.status)"])
            }
            return
        }
        guard all.heldout >= 1 else {
            logger.info("fine-tuning waits for held-out labels to judge a candidate", metadata: ["train_images": "\(all.train)"])
            return
        }
        let runDirectory = stateDirectory + "/finetune/run-\(UUID().uuidString.prefix(8))"
        let hyper = settings.hyperparameters(vocabulary: vocabulary.name)
        let id = try database.startFineTune(
            parentModelID: active.id,
            trigger: (counts.train >= settings.minNewImages ? "" : "schedule (every \(settings.everyHours) h): ") + "\(counts.train) new labelled images",
            labelSnapshotJSON: FineTuneSnapshot(uptoImport: all.newestImport, vocabulary: vocabulary.name, trainImages: all.train,
                                                heldoutImages: all.heldout).json,
            hyperparametersJSON: hyper, checkpointPath: runDirectory, stepsTotal: settings.steps)
        logger.notice("fine-tuning started", metadata: ["run": "\(id)", "parent": "\(active.label)", "new_images": "\(counts.train)",
                                                        "directory": "\(runDirectory)", "path": "\(parentPath)"])
        guard let run = try database.runningFineTune() else { return }
        try execute(run)
    }

    /// Trains, evaluates, gates and records one run.
    func execute(_ run: FineTuneRunRecord) throws {
        guard let parent = try database.model(id: run.parentModelID), let parentPath = parent.path else {
            try database.finishFineTune(id: run.id, status: "failed", candidateModelID: nil, metricsJSON: "{}", reason: "the parent model has no directory")
            return
        }
        let snapshot = FineTuneSnapshot(json: run.labelSnapshotJSON) ?? FineTuneSnapshot(uptoImport: run.uptoImport, vocabulary: labels.vocabulary)
        let directory = run.checkpointPath
        do {
            guard let vocabulary = try database.latestVocabulary(name: snapshot.vocabulary) else {
                throw TrainingError("vocabulary \(snapshot.vocabulary) is gone")
            }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            // The run learns from the labels as the database has them up to its import, built in memory; the LVIS
            // files beside its checkpoint are the audit trail of what it learned from.
            func labels(_ split: String) throws -> LVISDataset {
                let dataset = LVISDataset(try database.exportLabels(vocabularyID: vocabulary.id, split: split, uptoImport: snapshot.uptoImport))
                let audit = directory + "/\(split).json"
                if !FileManager.default.fileExists(atPath: audit) { try dataset.jsonData().write(to: URL(fileURLWithPath: audit)) }
                return dataset
            }
            let train = try labels("train"), heldout = try labels("heldout")
            let config = try settings.trainingConfig(parent: parentPath, runDirectory: directory, archiveRoot: archiveRoot,
                                                     name: parent.name, runID: run.id)
            let session = try TrainingSession(config, quiet: true)
            session.shouldStop = { [weak self] in self?.isStopping ?? true }
            session.featureWorkers = 1
            session.logger = logger
            session.datasets = (train, heldout)
            session.onCheckpoint = { [database, logger] done, total in
                try? database.fineTuneProgress(id: run.id, stepsDone: done)
                logger.info("fine-tuning progress", metadata: ["run": "\(run.id)", "step": "\(done)/\(total)"])
            }
            let manifest = try BLASThreads.serially { try session.run() }
            let candidateMetrics = manifest.metrics ?? [:]
            let parentMetrics = try BLASThreads.serially { try session.evaluateInitialModel() }
            let verdict = settings.gate(candidate: candidateMetrics, parent: parentMetrics)
            let metrics = Self.json(["candidate": candidateMetrics, "parent": parentMetrics])
            let candidateID = try database.registerModel(NewModel(
                name: manifest.name, version: manifest.version, weightsSHA256: manifest.weightsSHA256,
                configJSON: String(decoding: try JSONEncoder().encode(manifest.config), as: UTF8.self), path: config.output,
                parentID: parent.id, labelSnapshotJSON: snapshot.json, hyperparametersJSON: run.hyperparametersJSON,
                metricsJSON: Self.json(candidateMetrics)))
            if verdict.passed {
                try database.promoteModel(id: candidateID, reason: "fine-tuning run \(run.id): \(verdict.reason)")
                try database.finishFineTune(id: run.id, status: "promoted", candidateModelID: candidateID, metricsJSON: metrics, reason: verdict.reason)
                DaemonMetrics.fineTuneRun(outcome: "promoted")
                logger.notice("fine-tuned model promoted", metadata: ["run": "\(run.id)", "model": "\(manifest.name)@\(manifest.version)", "gate": "\(verdict.reason)"])
            } else {
                try database.rejectModel(id: candidateID, reason: "fine-tuning run \(run.id): \(verdict.reason)")
                try database.finishFineTune(id: run.id, status: "rejected", candidateModelID: candidateID, metricsJSON: metrics, reason: verdict.reason)
                DaemonMetrics.fineTuneRun(outcome: "rejected")
                logger.warning("fine-tuned candidate rejected by the gate", metadata: ["run": "\(run.id)", "model": "\(manifest.name)@\(manifest.version)", "gate": "\(verdict.reason)"])
            }
        } catch let stopped as TrainingSession.Stopped {
            logger.notice("fine-tuning paused for shutdown; it resumes at the next start", metadata: ["run": "\(run.id)"])
            throw stopped
        } catch let error as StoreError {
            throw error   // the database went away: the run stays running and is resumed
        } catch {
            try database.finishFineTune(id: run.id, status: "failed", candidateModelID: nil, metricsJSON: "{}", reason: "\(error)")
            DaemonMetrics.fineTuneRun(outcome: "failed")
            logger.error("fine-tuning run failed", metadata: ["run": "\(run.id)", "error": "\(error)"])
        }
    }

    static func json(_ value: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
