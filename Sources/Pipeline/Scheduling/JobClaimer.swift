import Foundation
import Logging
import Store

/// Claiming: takes jobs from PostgreSQL only while fewer than `maxInFlight` are held — that bound is the
/// backpressure: a burst of 10,000 files is 10,000 rows in the queue but never more than `maxInFlight` images in
/// memory. A suspect (in flight when a worker died) is taken only with nothing else held and runs alone. NOTIFY on
/// the jobs channel, or a job leaving, wakes the loop early. Its turning is the daemon's heartbeat.
final class JobClaimer: DaemonService, @unchecked Sendable {
    let name = "claimer"
    private let database: Database
    private let listenerURL: String
    private let settings: Scheduler.Settings
    private let jobs: InFlightJobs
    private let lanes: StageLanes
    private let keeper: LeaseKeeper
    private let journal: CrashJournal?
    private let archiveRoot: String
    private let watchdogInterval: Double?
    private let logger: Logger

    private let state = NSLock()
    private var lastLoop = Date()
    private let claiming = ServiceThread(name: "pipelined.claim")
    private let listening = ServiceThread(name: "pipelined.listen")

    init(database: Database, listenerURL: String, settings: Scheduler.Settings, jobs: InFlightJobs, lanes: StageLanes,
         keeper: LeaseKeeper, journal: CrashJournal?, archiveRoot: String, watchdogInterval: Double?, logger: Logger) {
        self.database = database
        self.listenerURL = listenerURL
        self.settings = settings
        self.jobs = jobs
        self.lanes = lanes
        self.keeper = keeper
        self.journal = journal
        self.archiveRoot = archiveRoot
        self.watchdogInterval = watchdogInterval
        self.logger = logger
    }

    /// When the claim loop last went round (it does at least every claim poll interval or watchdog half-period).
    var heartbeat: Date {
        state.lock()
        defer { state.unlock() }
        return lastLoop
    }

    func start() {
        claiming.start { [self] in claimLoop() }
        listening.start { [self] in listenLoop() }
    }

    /// Stops claiming, then listening (which ends within its one-second wait).
    func stop(deadline: Date) {
        claiming.stop(wake: { jobs.wake() })
        listening.stop()
    }

    func reload(_ config: Config) -> [String] { [] }

    private func claimLoop() {
        var failures = 0
        while !claiming.isStopping {
            state.lock()
            lastLoop = Date()
            state.unlock()
            var claimedAll = false
            if keeper.isRecovered {
                let (held, isolated) = jobs.snapshot
                let free = settings.maxInFlight - held.count
                do {
                    if held.isEmpty, let suspect = try database.claimSuspect(owner: settings.owner, lease: settings.leaseSeconds,
                                                                             archiveID: settings.archiveID) {
                        logger.notice("running a suspect alone: it was in flight when a worker died",
                                      metadata: ["job.id": "\(suspect.jobID)", "image.sha256": "\(suspect.sha256)"])
                        dispatch(suspect, isolated: true)
                    } else if free > 0 && !isolated {
                        // Takes nothing while a suspect waits, so the worker drains and then runs it alone.
                        let claimed = try database.claimJobs(owner: settings.owner, limit: free, lease: settings.leaseSeconds,
                                                             archiveID: settings.archiveID)
                        claimedAll = claimed.count == free
                        for job in claimed { dispatch(job, isolated: false) }
                    }
                    if failures > 0 { logger.notice("database reachable again") }
                    failures = 0
                } catch {
                    failures += 1
                    logger.error("cannot claim jobs; retrying", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
            if claimedAll { continue }
            let pause = failures > 0 ? min(30, Double(failures) * 2) : settings.claimPollInterval
            jobs.sleep(upTo: min(pause, watchdogInterval ?? pause)) { claiming.isStopping }
        }
    }

    /// Waits for NOTIFY on the jobs channel; a notification only shortens the claim loop's sleep.
    private func listenLoop() {
        let listener = Listener(url: listenerURL, channels: [Database.jobsChannel])
        while !listening.isStopping {
            do {
                if !(try listener.wait(timeout: 1)).isEmpty { jobs.wake() }
            } catch {
                listening.pause(until: Date().addingTimeInterval(2))
            }
        }
    }

    private func dispatch(_ job: ClaimedJob, isolated: Bool) {
        let item = WorkItem(job: job, owner: settings.owner, archiveFile: archiveRoot + "/" + job.archivePath)
        item.isolated = isolated
        item.journalSlot = journal?.begin(jobID: job.jobID, stage: lanes.firstStage, isolated: isolated)
        jobs.add(item)
        logger.debug("job claimed", metadata: ["job.id": "\(job.jobID)", "job.attempt": "\(job.attempt)",
                                               "image.sha256": "\(job.sha256)"])
        lanes.admit(item)
    }
}
