import Foundation
import Store

/// One step of a job's processing (decode, detect, record …). Stages are plain synchronous code; the scheduler
/// decides on which queue, how many at once, and what happens when one fails.
public protocol Stage: Sendable {
    /// The name used in logs, timings and per-stage concurrency settings.
    var name: String { get }
    /// Runs the stage on `item`. Throw `StageFailure.reject` for input that can never succeed; any other error
    /// is retried with backoff.
    func run(_ item: WorkItem) throws -> StageResult
}

public enum StageResult: Sendable {
    /// Hand the item to the next stage.
    case next
    /// The stage stored the job's results and marked it done.
    case completed
    /// The job's lease was lost (another worker has it now); drop the item without touching the job.
    case leaseLost
}

/// A failure a stage reports on purpose.
public enum StageFailure: Error, CustomStringConvertible {
    /// The input is unusable: the image is quarantined with this reason and the job discarded.
    case reject(reason: String)
    /// Nothing can run the job right now (e.g. no model); it is returned to the queue without spending an attempt.
    case unavailable(reason: String)

    public var description: String {
        switch self {
        case let .reject(reason): return "rejected: \(reason)"
        case let .unavailable(reason): return "unavailable: \(reason)"
        }
    }
}

/// The state of one job as it moves through the stages. Only one stage touches an item at a time.
public final class WorkItem: @unchecked Sendable {
    public let job: ClaimedJob
    /// The worker identity that holds the job's lease.
    public let owner: String
    /// Absolute path of the image bytes in the archive.
    public let archiveFile: String
    /// Wall time per stage, in milliseconds, with `queue_wait` (available → claimed) and, when read by the last
    /// stage, `total` (claimed → now). Provenance keeps them as JSON.
    public internal(set) var timingsMS: [String: Double] = [:]
    /// Facts a stage reports for the "job done" log line (e.g. the number of detections).
    public var summary: [String: String] = [:]
    /// When the job was claimed (uptime nanoseconds).
    let claimedAt = DispatchTime.now().uptimeNanoseconds

    /// Every timing so far, with `total` from the claim until now.
    public var timingsWithTotal: [String: Double] {
        var t = timingsMS
        t["total"] = Double(DispatchTime.now().uptimeNanoseconds - claimedAt) / 1e6
        return t
    }
    /// Runs alone because it was in flight when a worker died (the scheduler's crash attribution).
    var isolated = false
    /// Its slot in the crash journal.
    var journalSlot: Int?
    /// What the last stage handed on, for the next (typed by `StageChain`, which alone reads and writes it).
    var carried: Any?

    public init(job: ClaimedJob, owner: String, archiveFile: String) {
        self.job = job
        timingsMS["queue_wait"] = job.queuedSeconds * 1000
        self.owner = owner
        self.archiveFile = archiveFile
    }

}
