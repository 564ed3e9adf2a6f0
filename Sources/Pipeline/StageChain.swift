import Foundation

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
        // The first link takes nothing (`Void`); every other one what its predecessor left.
        guard let input = (item.carried ?? ()) as? S.Input else {
            throw SchedulerError.noInput(stage: stage.name)   // unreachable through StageChain
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
