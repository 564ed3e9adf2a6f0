import Foundation
import Logging

/// The stages, each on its own Dispatch queue with its own concurrency limit: an item waiting for a busy stage
/// waits in that stage's list, not on a blocked thread. Each stage's result goes to the next stage or to the
/// outcome recorder.
final class StageLanes: DaemonService, @unchecked Sendable {
    let name = "stage lanes"

    private final class Lane: @unchecked Sendable {
        let stage: any Stage
        let queue: DispatchQueue
        let limit: Int
        var running = 0
        var waiting: [WorkItem] = []

        init(stage: any Stage, limit: Int) {
            self.stage = stage
            self.limit = limit
            queue = DispatchQueue(label: "pipelined.stage.\(stage.name)", qos: .userInitiated, attributes: .concurrent)
        }
    }

    private let lanes: [Lane]
    private let jobs: InFlightJobs
    private let outcomes: OutcomeRecorder
    private let journal: CrashJournal?
    private let lock = NSLock()

    init(stages: [any Stage], concurrency: [String: Int], jobs: InFlightJobs, outcomes: OutcomeRecorder, journal: CrashJournal?) {
        precondition(!stages.isEmpty, "a scheduler needs at least one stage")
        lanes = stages.map { Lane(stage: $0, limit: max(1, concurrency[$0.name] ?? 1)) }
        self.jobs = jobs
        self.outcomes = outcomes
        self.journal = journal
    }

    var firstStage: String { lanes[0].stage.name }

    func start() {}

    /// Returns work that has not started to the queue, lets started work finish until `deadline`, then returns what
    /// is still unfinished. Afterwards no job is leased by this worker.
    func stop(deadline: Date) {
        lock.lock()
        let unstarted = Set(lanes[0].waiting.map(\.job.jobID))
        lanes[0].waiting.removeAll()
        lock.unlock()
        outcomes.release(jobs.removeAll { unstarted.contains($0.job.jobID) }, why: "not started before shutdown")
        _ = jobs.waitUntilEmpty(by: deadline)
        outcomes.drain()
        outcomes.release(jobs.removeAll(), why: "unfinished when the shutdown budget ran out")
    }

    func reload(_ config: Config) -> [String] { [] }

    /// A claimed job enters the first stage.
    func admit(_ item: WorkItem) { enqueue(item, lane: 0) }

    private func enqueue(_ item: WorkItem, lane index: Int) {
        let lane = lanes[index]
        lock.lock()
        if lane.running < lane.limit {
            lane.running += 1
            lock.unlock()
            lane.queue.async { self.execute(item, lane: index) }
        } else {
            lane.waiting.append(item)
            lock.unlock()
        }
    }

    private func execute(_ item: WorkItem, lane index: Int) {
        let lane = lanes[index]
        if let slot = item.journalSlot { journal?.enter(slot: slot, stage: lane.stage.name) }
        let started = DispatchTime.now().uptimeNanoseconds
        var outcome: Result<StageResult, Error>
        do { outcome = .success(try lane.stage.run(item)) } catch { outcome = .failure(error) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        item.timingsMS[lane.stage.name] = elapsed
        DaemonMetrics.stage(lane.stage.name, milliseconds: elapsed)
        jobs.addStageTime(lane.stage.name, milliseconds: elapsed)

        // Free the slot: the next waiting item of this stage takes it.
        lock.lock()
        if !lane.waiting.isEmpty {
            let next = lane.waiting.removeFirst()
            lock.unlock()
            lane.queue.async { self.execute(next, lane: index) }
        } else {
            lane.running -= 1
            lock.unlock()
        }

        switch outcome {
        case .success(.next) where index + 1 < lanes.count:
            enqueue(item, lane: index + 1)
        case .success(.next):
            outcomes.failed(item, stage: lane.stage.name, error: SchedulerError.noStageCompleted(lastStage: lane.stage.name))
        case .success(.completed):
            outcomes.completed(item)
        case .success(.leaseLost):
            outcomes.leaseLost(item)
        case let .failure(error):
            outcomes.failed(item, stage: lane.stage.name, error: error)
        }
    }
}
