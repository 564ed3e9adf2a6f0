import Foundation

/// The jobs this worker holds, shared by the claimer, the lanes, the lease keeper and the outcome recorder, under
/// one condition: claiming waits on it for room or a wake-up, shutdown waits on it for the last job to leave.
final class InFlightJobs: @unchecked Sendable {
    let condition = NSCondition()
    private var items: [Int: WorkItem] = [:]
    /// A suspect is running alone: nothing else is claimed until it is finished.
    private var isolatedRunning = false
    private var wakeRequested = false
    private var stats = Scheduler.Stats()

    /// (held job ids, whether a suspect runs alone).
    var snapshot: (held: [Int], isolated: Bool) {
        condition.lock()
        defer { condition.unlock() }
        return (Array(items.keys), isolatedRunning)
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count
    }

    var currentStats: Scheduler.Stats {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    func add(_ item: WorkItem) {
        condition.lock()
        items[item.job.jobID] = item
        if item.isolated { isolatedRunning = true }
        condition.unlock()
    }

    /// The item leaves (its outcome is recorded); counted by `count` when it was still held. Wakes the claimer.
    func remove(_ item: WorkItem, count: (inout Scheduler.Stats) -> Void) {
        condition.lock()
        if item.isolated { isolatedRunning = false }
        if items.removeValue(forKey: item.job.jobID) != nil { count(&stats) }
        wakeRequested = true
        condition.broadcast()
        condition.unlock()
    }

    /// Takes every item still held (shutdown): they are released by the caller.
    func removeAll(where shouldRemove: (WorkItem) -> Bool = { _ in true }) -> [WorkItem] {
        condition.lock()
        defer { condition.unlock() }
        let taken = items.values.filter(shouldRemove)
        for item in taken { items[item.job.jobID] = nil }
        return taken
    }

    func addStageTime(_ stage: String, milliseconds: Double) {
        condition.lock()
        stats.stageMS[stage, default: 0] += milliseconds
        condition.unlock()
    }

    /// Wakes the claimer early (a NOTIFY, a finished job).
    func wake() {
        condition.lock()
        wakeRequested = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps up to `seconds` unless woken (or `interrupted()` holds); clears the wake-up.
    func sleep(upTo seconds: Double, unless interrupted: () -> Bool) {
        condition.lock()
        if !wakeRequested && !interrupted() { _ = condition.wait(until: Date().addingTimeInterval(seconds)) }
        wakeRequested = false
        condition.unlock()
    }

    /// Waits until no job is held or `deadline` passes; true when empty.
    func waitUntilEmpty(by deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !items.isEmpty && condition.wait(until: deadline) {}
        return items.isEmpty
    }
}
