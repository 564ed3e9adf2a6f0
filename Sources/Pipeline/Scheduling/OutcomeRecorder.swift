import Foundation
import Logging
import Store

/// The one place a job's outcome is written: done (its results were stored by the last stage), lease lost,
/// rejected (quarantined), unavailable or unfinished (returned to the queue), failed (retried with backoff, or
/// discarded after its last attempt). Failures are recorded on one serial queue, off the stage lanes.
final class OutcomeRecorder: @unchecked Sendable {
    private let database: Database
    private let jobs: InFlightJobs
    private let quarantine: Quarantine
    private let journal: CrashJournal?
    private let owner: String
    private let logger: Logger
    private let queue = DispatchQueue(label: "pipelined.outcomes")

    init(database: Database, jobs: InFlightJobs, quarantine: Quarantine, journal: CrashJournal?, owner: String, logger: Logger) {
        self.database = database
        self.jobs = jobs
        self.quarantine = quarantine
        self.journal = journal
        self.owner = owner
        self.logger = logger
    }

    /// The last stage stored the results and marked the job done.
    func completed(_ item: WorkItem) {
        finish(item) { $0.completed += 1 }
        // One line a person can read: which file, what was found, where the time went (JSON, as provenance has it).
        var metadata: Logger.Metadata = ["job.id": "\(item.job.jobID)", "file": "\(item.job.inbox)/\(item.job.originalName)",
                                         "image.sha256": "\(item.job.sha256)", "timings_ms": "\(Scheduler.json(item.timingsWithTotal))"]
        for (key, value) in item.summary { metadata[key] = "\(value)" }
        logger.info("job done", metadata: metadata)
        DaemonMetrics.imageDone(inbox: item.job.inbox)
        DaemonMetrics.stage("queue_wait", milliseconds: item.timingsMS["queue_wait"] ?? 0)
        DaemonMetrics.stage("total", milliseconds: item.timingsWithTotal["total"] ?? 0)
        if let n = item.summary["detections"].flatMap(Int.init) { DaemonMetrics.detectionsPerImage(n) }
    }

    /// Another worker owns the job now: nothing is written.
    func leaseLost(_ item: WorkItem) {
        finish(item) { _ in }
        logger.warning("job lease lost; another worker owns it now", metadata: ["job.id": "\(item.job.jobID)"])
    }

    /// A stage threw (or the last stage stored nothing): recorded on the outcome queue.
    func failed(_ item: WorkItem, stage: String, error: Error) {
        queue.async { self.recordFailure(item, stage: stage, error: error) }
    }

    /// Returns jobs this worker will not finish (shutdown) to the queue, their attempt kept.
    func release(_ items: [WorkItem], why: String) {
        for item in items { if let slot = item.journalSlot { journal?.end(slot: slot) } }
        let ids = items.map(\.job.jobID)
        guard !ids.isEmpty else { return }
        do {
            try database.releaseJobs(ids, owner: owner)
            logger.info("jobs returned to the queue", metadata: ["jobs": "\(ids.count)", "reason": "\(why)"])
        } catch {
            logger.error("cannot return jobs to the queue; their leases will expire and the rescuer will return them",
                         metadata: ["jobs": "\(ids.count)", "error": "\(error)"])
        }
    }

    /// Waits for failures being recorded (shutdown).
    func drain() { queue.sync {} }

    private func recordFailure(_ item: WorkItem, stage: String, error: Error) {
        let job = item.job
        let meta: Logger.Metadata = ["job.id": "\(job.jobID)", "job.attempt": "\(job.attempt)", "stage": "\(stage)",
                                     "image.sha256": "\(job.sha256)", "error": "\(error)"]
        do {
            switch error {
            case let StageFailure.reject(reason):
                let relative = quarantine.relativePath(sha256: job.sha256, originalName: job.originalName)
                try quarantine.place(archivePath: job.archivePath, as: relative)
                if try database.quarantine(job, owner: item.owner, stage: stage, path: relative, reason: reason) {
                    quarantine.finish(archivePath: job.archivePath)
                    logger.warning("image quarantined", metadata: meta.merging(["path": "\(relative)"]) { $1 })
                    DaemonMetrics.imageQuarantined(inbox: job.inbox)
                    finish(item) { $0.quarantined += 1 }
                } else {
                    finish(item) { _ in }
                }
            case StageFailure.unavailable:
                try database.releaseJobs([job.jobID], owner: item.owner)
                logger.notice("job returned to the queue", metadata: meta)
                finish(item) { _ in }
            default:
                let delay = Backoff.delay(afterAttempt: job.attempt)
                let newState = try database.retryJob(job.jobID, owner: item.owner, stage: stage,
                                                     error: "\(error)", delay: delay)
                if newState == "discarded" {
                    logger.error("job discarded after its last attempt", metadata: meta)
                    DaemonMetrics.jobDiscarded(inbox: item.job.inbox)
                    finish(item) { $0.discarded += 1 }
                } else {
                    logger.warning("job failed; will retry", metadata: meta.merging(["retry_in_s": "\(Int(delay))"]) { $1 })
                    finish(item) { $0.retried += 1 }
                }
            }
        } catch {
            // The database is away too: the lease will expire and the rescuer will return the job.
            logger.error("cannot record job failure; the lease will expire and the job will be retried",
                         metadata: meta.merging(["store_error": "\(error)"]) { $1 })
            finish(item) { _ in }
        }
    }

    private func finish(_ item: WorkItem, count: (inout Scheduler.Stats) -> Void) {
        if let slot = item.journalSlot { journal?.end(slot: slot) }
        jobs.remove(item, count: count)
    }
}
