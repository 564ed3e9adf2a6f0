import Dispatch
import Foundation
import Logging
import Store

/// Runs claimed jobs through the stages.
///
/// One claim loop takes jobs from PostgreSQL only while fewer than `maxInFlight` are held: that bound is the
/// backpressure — a burst of 10,000 files is 10,000 rows in the queue but never more than `maxInFlight` images in
/// memory. Each stage runs on its own Dispatch queue with its own concurrency limit; an item waiting for a busy
/// stage waits in that stage's list, not on a blocked thread.
public final class Scheduler: @unchecked Sendable {
    public struct Settings: Sendable {
        public var owner: String
        public var maxInFlight: Int
        public var leaseSeconds: Double
        public var claimPollInterval: Double
        public var stageConcurrency: [String: Int]
        /// The archive whose bytes this worker reads (ArchiveIdentity); nil claims jobs from any archive.
        public var archiveID: String?

        public init(owner: String, maxInFlight: Int, leaseSeconds: Double, claimPollInterval: Double,
                    stageConcurrency: [String: Int], archiveID: String? = nil) {
            self.archiveID = archiveID
            self.owner = owner
            self.maxInFlight = maxInFlight
            self.leaseSeconds = leaseSeconds
            self.claimPollInterval = claimPollInterval
            self.stageConcurrency = stageConcurrency
        }
    }

    /// Counters for status lines and benchmarks.
    public struct Stats: Sendable {
        public var completed = 0
        public var quarantined = 0
        public var retried = 0
        public var discarded = 0
        public var stageMS: [String: Double] = [:]
    }

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

    private let database: Database
    private let listenerURL: String
    private let settings: Settings
    private let lanes: [Lane]
    private let quarantine: Quarantine
    private let archiveRoot: String
    private let notifier: SystemdNotifier?
    private let logger: Logger
    private let outcomes = DispatchQueue(label: "pipelined.outcomes")

    private let journal: CrashJournal?
    private let recovery: CrashRecovery
    private let host: String

    private let state = NSCondition()
    private var inFlight: [Int: WorkItem] = [:]
    /// When the claim loop last went round: the store supervisor feeds systemd's watchdog only while it turns.
    private var lastLoop = Date()
    /// A suspect is running alone: nothing else is claimed until it is finished.
    private var isolatedRunning = false
    /// What previous processes on this state directory left in the journal, until it has been dealt with.
    private var pendingRecovery: [CrashJournal.Record]
    private var recoveryFailures = 0
    /// Jobs of dead workers on this host are looked for once, at start-up: later, a sibling daemon's jobs would be
    /// taken from under its own restart (which attributes its crash from its journal).
    private var sweptDeadLocalWorkers = false
    private var stopping = false
    private var started = false
    private var wakeRequested = false
    private var stats = Stats()
    private let loopExited = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - journal: this process's crash journal; `previous` is what the last process on the state directory left.
    public init(database: Database, listenerURL: String, stages: [any Stage], settings: Settings,
                archiveRoot: String, quarantineRoot: String, notifier: SystemdNotifier?, logger: Logger,
                journal: CrashJournal? = nil, previous: [CrashJournal.Record] = []) {
        precondition(!stages.isEmpty, "a scheduler needs at least one stage")
        self.database = database
        self.listenerURL = listenerURL
        self.settings = settings
        self.lanes = stages.map { Lane(stage: $0, limit: max(1, settings.stageConcurrency[$0.name] ?? 1)) }
        self.archiveRoot = archiveRoot
        self.quarantine = Quarantine(archiveRoot: archiveRoot, quarantineRoot: quarantineRoot)
        self.notifier = notifier
        self.logger = logger
        self.journal = journal
        self.pendingRecovery = previous
        self.recovery = CrashRecovery(database: database, quarantine: quarantine, logger: logger)
        self.host = Daemon.workerPlace(settings.owner).place
    }

    public func start() {
        state.lock()
        started = true
        state.unlock()
        let claimThread = Thread { [self] in claimLoop() }
        claimThread.name = "pipelined.claim"
        claimThread.start()
        let listenThread = Thread { [self] in listenLoop() }
        listenThread.name = "pipelined.listen"
        listenThread.start()
    }

    public var currentStats: Stats {
        state.lock()
        defer { state.unlock() }
        return stats
    }

    /// When the claim loop last went round (it does at least every claim poll interval or watchdog half-period).
    public var heartbeat: Date {
        state.lock()
        defer { state.unlock() }
        return lastLoop
    }

    public var inFlightCount: Int {
        state.lock()
        defer { state.unlock() }
        return inFlight.count
    }

    /// Stops claiming, returns work that has not started to the queue, lets started work finish for up to
    /// `budget` seconds, then returns what is still unfinished. Afterwards no job is leased by this worker.
    public func shutdown(budget: Double) {
        state.lock()
        stopping = true
        let wasStarted = started
        state.broadcast()
        state.unlock()
        guard wasStarted else { return }
        loopExited.wait()

        var unstarted: [Int] = []
        state.lock()
        let first = lanes[0]
        unstarted = first.waiting.map(\.job.jobID)
        for item in first.waiting { if let slot = item.journalSlot { journal?.end(slot: slot) } }
        for id in unstarted { inFlight[id] = nil }
        first.waiting.removeAll()
        state.unlock()
        release(unstarted, why: "not started before shutdown")

        let deadline = Date().addingTimeInterval(budget)
        state.lock()
        while !inFlight.isEmpty && state.wait(until: deadline) {}
        let unfinished = Array(inFlight.keys)
        for item in inFlight.values { if let slot = item.journalSlot { journal?.end(slot: slot) } }
        inFlight.removeAll()
        state.unlock()
        release(unfinished, why: "unfinished when the shutdown budget ran out")
        let final = currentStats
        logger.info("scheduler stopped", metadata: [
            "completed": "\(final.completed)", "quarantined": "\(final.quarantined)", "retried": "\(final.retried)",
            "discarded": "\(final.discarded)",
            "stage_total_ms": "\(final.stageMS.mapValues { ($0 * 10).rounded() / 10 })",
        ])
    }

    private func release(_ ids: [Int], why: String) {
        guard !ids.isEmpty else { return }
        do {
            try database.releaseJobs(ids, owner: settings.owner)
            logger.info("jobs returned to the queue", metadata: ["jobs": "\(ids.count)", "reason": "\(why)"])
        } catch {
            logger.error("cannot return jobs to the queue; their leases will expire and the rescuer will return them",
                         metadata: ["jobs": "\(ids.count)", "error": "\(error)"])
        }
    }

    // MARK: - Claiming

    private func claimLoop() {
        defer { loopExited.signal() }
        var nextRescue = Date()
        var nextExtend = Date().addingTimeInterval(settings.leaseSeconds / 3)
        var failures = 0
        while true {
            state.lock()
            lastLoop = Date()
            if stopping { state.unlock(); return }
            let free = settings.maxInFlight - inFlight.count
            let held = Array(inFlight.keys)
            let isolated = isolatedRunning
            let previous = pendingRecovery
            state.unlock()

            var claimedAll = false
            do {
                if !previous.isEmpty { try recover(previous) }
                if !sweptDeadLocalWorkers {
                    try recovery.returnJobsOfDeadLocalWorkers(host: host, me: settings.owner)
                    sweptDeadLocalWorkers = true
                }
                let now = Date()
                if now >= nextRescue {
                    let rescued = try database.rescueExpiredJobs()
                    if rescued > 0 { logger.warning("returned jobs with expired leases", metadata: ["jobs": "\(rescued)"]) }
                    nextRescue = now.addingTimeInterval(min(30, settings.leaseSeconds / 2))
                }
                if now >= nextExtend {
                    try database.extendLeases(held, owner: settings.owner, lease: settings.leaseSeconds)
                    nextExtend = now.addingTimeInterval(settings.leaseSeconds / 3)
                }
                if held.isEmpty, let suspect = try database.claimSuspect(owner: settings.owner, lease: settings.leaseSeconds,
                                                                         archiveID: settings.archiveID) {
                    logger.notice("running a suspect alone: it was in flight when a worker died",
                                  metadata: ["job.id": "\(suspect.jobID)", "image.sha256": "\(suspect.sha256)"])
                    dispatch(suspect, isolated: true)
                } else if free > 0 && !isolated {
                    // Takes nothing while a suspect waits, so the worker drains and then runs it alone.
                    let jobs = try database.claimJobs(owner: settings.owner, limit: free, lease: settings.leaseSeconds,
                                                      archiveID: settings.archiveID)
                    claimedAll = jobs.count == free
                    for job in jobs { dispatch(job, isolated: false) }
                }
                if failures > 0 { logger.notice("database reachable again") }
                failures = 0
            } catch {
                failures += 1
                logger.error("cannot claim jobs; retrying", metadata: ["error": "\(error)", "failures": "\(failures)"])
            }
            if claimedAll { continue }
            let pause = failures > 0 ? min(30, Double(failures) * 2) : settings.claimPollInterval
            let wait = min(pause, notifier?.watchdogInterval ?? pause)
            state.lock()
            if !wakeRequested && !stopping { _ = state.wait(until: Date().addingTimeInterval(wait)) }
            wakeRequested = false
            state.unlock()
        }
    }

    /// Attributes the previous processes' deaths. Should that keep failing (the quarantine folder full or not
    /// writable), their jobs are returned as suspects without a verdict rather than hold up all claims.
    private func recover(_ records: [CrashJournal.Record]) throws {
        do {
            for record in records { try recovery.recover(record) }
        } catch let error as StoreError where error.isTransient {
            throw error
        } catch {
            recoveryFailures += 1
            guard recoveryFailures >= 3 else { throw error }
            logger.error("cannot attribute the previous crash; its jobs are returned as suspects", metadata: ["error": "\(error)"])
            for record in records {
                try database.returnDeadWorkerJobs([], owner: record.owner, stage: "recovery",
                                                  message: "worker \(record.owner) died; its crash could not be attributed (\(error))")
            }
        }
        journal?.recovered()
        state.lock()
        pendingRecovery = []
        state.unlock()
    }

    /// Waits for NOTIFY on the jobs channel; a notification only shortens the claim loop's sleep.
    private func listenLoop() {
        let listener = Listener(url: listenerURL, channels: [Database.jobsChannel])
        while true {
            state.lock()
            let done = stopping
            state.unlock()
            if done { return }
            do {
                if !(try listener.wait(timeout: 1)).isEmpty { wake() }
            } catch {
                Thread.sleep(forTimeInterval: 2)
            }
        }
    }

    private func wake() {
        state.lock()
        wakeRequested = true
        state.broadcast()
        state.unlock()
    }

    private func dispatch(_ job: ClaimedJob, isolated: Bool) {
        let item = WorkItem(job: job, owner: settings.owner, archiveFile: archiveRoot + "/" + job.archivePath)
        item.isolated = isolated
        item.journalSlot = journal?.begin(jobID: job.jobID, stage: lanes[0].stage.name, isolated: isolated)
        state.lock()
        inFlight[job.jobID] = item
        if isolated { isolatedRunning = true }
        state.unlock()
        logger.debug("job claimed", metadata: ["job.id": "\(job.jobID)", "job.attempt": "\(job.attempt)",
                                               "image.sha256": "\(job.sha256)"])
        enqueue(item, lane: 0)
    }

    /// Timings as compact JSON with keys in order, rounded to 0.1 ms.
    static func json(_ timings: [String: Double]) -> String {
        "{" + timings.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(($0.value * 10).rounded() / 10)" }.joined(separator: ",") + "}"
    }

    // MARK: - Running stages

    private func enqueue(_ item: WorkItem, lane index: Int) {
        let lane = lanes[index]
        state.lock()
        if lane.running < lane.limit {
            lane.running += 1
            state.unlock()
            lane.queue.async { self.execute(item, lane: index) }
        } else {
            lane.waiting.append(item)
            state.unlock()
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

        // Free the slot: the next waiting item of this stage takes it.
        state.lock()
        stats.stageMS[lane.stage.name, default: 0] += elapsed
        if !lane.waiting.isEmpty {
            let next = lane.waiting.removeFirst()
            state.unlock()
            lane.queue.async { self.execute(next, lane: index) }
        } else {
            lane.running -= 1
            state.unlock()
        }

        switch outcome {
        case .success(.next) where index + 1 < lanes.count:
            enqueue(item, lane: index + 1)
        case .success(.next):
            outcomes.async { self.fail(item, stage: lane.stage.name,
                                       error: SchedulerError.noStageCompleted(lastStage: lane.stage.name)) }
        case .success(.completed):
            finish(item) { $0.completed += 1 }
            // One line a person can read: which file, what was found, where the time went (JSON, as provenance has it).
            var metadata: Logger.Metadata = ["job.id": "\(item.job.jobID)", "file": "\(item.job.inbox)/\(item.job.originalName)",
                                             "image.sha256": "\(item.job.sha256)", "timings_ms": "\(Self.json(item.timingsWithTotal))"]
            for (key, value) in item.summary { metadata[key] = "\(value)" }
            logger.info("job done", metadata: metadata)
            DaemonMetrics.imageDone(inbox: item.job.inbox)
            DaemonMetrics.stage("queue_wait", milliseconds: item.timingsMS["queue_wait"] ?? 0)
            DaemonMetrics.stage("total", milliseconds: item.timingsWithTotal["total"] ?? 0)
            if let n = item.summary["detections"].flatMap(Int.init) { DaemonMetrics.detectionsPerImage(n) }
        case .success(.leaseLost):
            finish(item) { _ in }
            logger.warning("job lease lost; another worker owns it now", metadata: ["job.id": "\(item.job.jobID)"])
        case let .failure(error):
            outcomes.async { self.fail(item, stage: lane.stage.name, error: error) }
        }
    }

    private func fail(_ item: WorkItem, stage: String, error: Error) {
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

    private func finish(_ item: WorkItem, count: (inout Stats) -> Void) {
        if let slot = item.journalSlot { journal?.end(slot: slot) }
        state.lock()
        if item.isolated { isolatedRunning = false }
        if inFlight.removeValue(forKey: item.job.jobID) != nil { count(&stats) }
        wakeRequested = true
        state.broadcast()
        state.unlock()
    }
}

public enum SchedulerError: Error, CustomStringConvertible {
    case noStageCompleted(lastStage: String)

    public var description: String {
        switch self {
        case let .noStageCompleted(last): return "the last stage (\(last)) finished without recording results"
        }
    }
}
