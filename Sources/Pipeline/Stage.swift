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

/// One step with a typed contract: it takes what the stage before it made (`Input`) and makes what the next one
/// takes (`Output`). `StageChain` joins them so that the compiler checks every hand-over: a stage cannot run
/// before the one that makes its input, and nothing is looked up by name at run time.
public protocol TypedStage<Input, Output>: Sendable {
    associatedtype Input
    associatedtype Output
    var name: String { get }
    /// Throw `StageFailure.reject` for input that can never succeed; any other error is retried with backoff.
    func run(_ input: Input, _ item: WorkItem) throws -> StageOutput<Output>
}

public enum StageOutput<Output> {
    /// Hand this to the next stage.
    case next(Output)
    /// The stage stored the job's results and marked it done.
    case completed
    /// The job's lease was lost (another worker has it now); drop the item without touching the job.
    case leaseLost
}

/// Stages joined in order, each taking the previous one's output; the first takes nothing but the claimed job.
public struct StageChain<Last> {
    public let stages: [any Stage]

    /// A chain beginning with `first`.
    public init<S: TypedStage>(_ first: S) where S.Input == Void, S.Output == Last {
        stages = [Link(first)]
    }

    private init(stages: [any Stage]) { self.stages = stages }

    /// The chain followed by `stage`, which takes this chain's last output.
    public func then<S: TypedStage>(_ stage: S) -> StageChain<S.Output> where S.Input == Last {
        StageChain<S.Output>(stages: stages + [Link(stage)])
    }
}

/// A typed stage as the scheduler runs it: its input is what the chain's previous link left on the item, which the
/// chain guarantees has the stage's `Input` type.
private struct Link<S: TypedStage>: Stage {
    let stage: S
    init(_ stage: S) { self.stage = stage }
    var name: String { stage.name }

    func run(_ item: WorkItem) throws -> StageResult {
        let input: S.Input
        if S.Input.self == Void.self {
            input = () as! S.Input
        } else {
            guard let carried = item.carried as? S.Input else {
                throw SchedulerError.noInput(stage: stage.name)   // unreachable through StageChain
            }
            input = carried
        }
        item.carried = nil   // the input is released as soon as this stage no longer holds it
        switch try stage.run(input, item) {
        case let .next(output):
            item.carried = output
            return .next
        case .completed: return .completed
        case .leaseLost: return .leaseLost
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
