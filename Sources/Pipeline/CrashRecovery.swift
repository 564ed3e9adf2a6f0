import Foundation
import Logging
import Store

/// Returns the jobs of workers that died, and attributes a crash to the job that caused it.
///
/// A worker that dies takes its in-flight jobs down with it, but only one of them (at most) caused it. Those jobs come
/// back as suspects, without spending an attempt, and run one at a time; a suspect running alone when the worker
/// dies again is the cause, and is quarantined with the signal and the stage instead of being retried. Innocent
/// jobs finish on their next run.
struct CrashRecovery {
    let database: Database
    let quarantine: Quarantine
    let logger: Logger

    /// After a restart: what a previous process on this state directory (known dead: we hold its lock) left.
    func recover(_ record: CrashJournal.Record) throws {
        let alone = record.inFlight.count == 1 && record.inFlight[0].isolated
        let death = record.signal != 0
            ? "crashed (signal \(record.signal), \(CrashJournal.signalName(record.signal)))"
            : "died without a crash signal of its own (killed, e.g. by kill -9 or the OOM killer)"
        for entry in record.inFlight {
            guard let (job, deaths) = try database.runningJob(entry.jobID, owner: record.owner) else { continue }
            // The fault hit the thread running this job's stage: a crash elsewhere (the watcher, the ingest thread)
            // is not the image's doing.
            let itsThread = entry.thread != 0 && entry.thread == record.faultThread
            if alone && record.signal != 0 && !itsThread {
                try database.returnDeadWorkerJobs([job.jobID], owner: record.owner, stage: entry.stage, message:
                    "worker \(record.owner) \(death) in another thread while this job ran alone in stage \(entry.stage)")
            } else if alone && record.signal != 0 {
                try quarantine(job, owner: record.owner, stage: entry.stage, reason:
                    "crashed the daemon (signal \(record.signal), \(CrashJournal.signalName(record.signal))) in stage \(entry.stage) while running alone")
            } else if alone && deaths + 1 >= 2 {
                try quarantine(job, owner: record.owner, stage: entry.stage, reason:
                    "the daemon died twice while running only this image (no crash signal: killed from outside, perhaps out of memory), last in stage \(entry.stage)")
            } else {
                let message = alone
                    ? "worker \(record.owner) \(death) in stage \(entry.stage) while running this job alone; it runs alone once more"
                    : "worker \(record.owner) \(death) in stage \(entry.stage) with \(record.inFlight.count) jobs in flight; this one now runs alone to find out whether it was the cause"
                try database.returnDeadWorkerJobs([job.jobID], owner: record.owner, stage: entry.stage, message: message,
                                                  death: alone ? 1 : 0)
            }
        }
        // Jobs it had claimed but not yet journalled.
        let rest = try database.returnDeadWorkerJobs([], owner: record.owner, stage: "claim",
                                                     message: "worker \(record.owner) \(death) before starting this job")
        if !record.inFlight.isEmpty || rest > 0 {
            logger.warning("the previous daemon on this state directory \(death); its jobs are back in the queue",
                           metadata: ["worker": "\(record.owner)", "jobs": "\(record.inFlight.count + rest)"])
        }
    }

    /// Jobs leased by workers on this host whose process is gone: returned now instead of when their lease expires.
    /// A live process with the same pid (reused) keeps its jobs until the lease says otherwise.
    func returnJobsOfDeadLocalWorkers(host: String, me: String) throws {
        for owner in try database.leaseOwners(prefix: host + ":") where owner != me {
            guard let pid = Daemon.workerPlace(owner).pid, pid > 0 else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let returned = try database.returnDeadWorkerJobs([], owner: owner, stage: "lease",
                                                             message: "worker \(owner) is gone (no process \(pid) on this host); returned without waiting for its lease")
            if returned > 0 {
                logger.warning("returned the jobs of a dead worker on this host", metadata: ["worker": "\(owner)", "jobs": "\(returned)"])
            }
        }
    }

    private func quarantine(_ job: ClaimedJob, owner: String, stage: String, reason: String) throws {
        let relative = quarantine.relativePath(sha256: job.sha256, originalName: job.originalName)
        try quarantine.place(archivePath: job.archivePath, as: relative)
        if try database.quarantine(job, owner: owner, stage: stage, path: relative, reason: reason) {
            quarantine.finish(archivePath: job.archivePath)
            logger.error("image quarantined: the daemon died while running it alone", metadata: [
                "job.id": "\(job.jobID)", "image.sha256": "\(job.sha256)", "path": "\(relative)", "reason": "\(reason)"])
        }
    }
}
