import Foundation
import Logging
import Store

/// Rescuing and lease extension: first attributes what the previous processes on this state directory left in the
/// crash journal and returns the jobs of dead workers on this host (claiming waits for that), then returns jobs whose
/// leases expired anywhere (every min(30 s, lease / 2)) and extends the leases of the jobs this worker holds
/// (every lease / 3). It stops last of the scheduler's services, so leases stay fresh while the lanes drain.
final class LeaseKeeper: DaemonService, @unchecked Sendable {
    let name = "lease keeper"
    private let database: Database
    private let jobs: InFlightJobs
    private let recovery: CrashRecovery
    private let journal: CrashJournal?
    private let owner: String
    private let leaseSeconds: Double
    private let logger: Logger

    private let state = NSLock()
    private var recovered = false
    /// What previous processes on this state directory left in the journal, until it has been dealt with.
    private var pendingRecovery: [CrashJournal.Record]
    private var recoveryFailures = 0
    private let thread = ServiceThread(name: "pipelined.leases")

    init(database: Database, jobs: InFlightJobs, recovery: CrashRecovery, journal: CrashJournal?, previous: [CrashJournal.Record],
         owner: String, leaseSeconds: Double, logger: Logger) {
        self.database = database
        self.jobs = jobs
        self.recovery = recovery
        self.journal = journal
        self.pendingRecovery = previous
        self.owner = owner
        self.leaseSeconds = leaseSeconds
        self.logger = logger
    }

    /// Whether the previous processes' jobs have been dealt with (claiming waits for it).
    var isRecovered: Bool {
        state.lock()
        defer { state.unlock() }
        return recovered
    }

    func start() { thread.start { [self] in loop() } }

    func stop(deadline: Date) { thread.stop() }

    func reload(_ config: Config) -> [String] { [] }

    private func loop() {
        var nextRescue = Date(), nextExtend = Date().addingTimeInterval(leaseSeconds / 3)
        var failures = 0
        repeat {
            let done = isRecovered
            do {
                if !done {
                    try recover()
                    // Jobs of dead workers on this host are looked for once, at start-up: later, a sibling daemon's
                    // jobs would be taken from under its own restart (which attributes its crash from its journal).
                    try recovery.returnJobsOfDeadLocalWorkers(host: Daemon.workerPlace(owner).place, me: owner)
                    state.lock()
                    recovered = true
                    state.unlock()
                    jobs.wake()
                }
                let now = Date()
                if now >= nextRescue {
                    let rescued = try database.rescueExpiredJobs()
                    if rescued > 0 { logger.warning("returned jobs with expired leases", metadata: ["jobs": "\(rescued)"]) }
                    nextRescue = now.addingTimeInterval(min(30, leaseSeconds / 2))
                }
                if now >= nextExtend {
                    try database.extendLeases(jobs.snapshot.held, owner: owner, lease: leaseSeconds)
                    nextExtend = now.addingTimeInterval(leaseSeconds / 3)
                }
                failures = 0
            } catch {
                failures += 1
                logger.error("cannot rescue or extend leases; retrying", metadata: ["error": "\(error)", "failures": "\(failures)"])
            }
        } while thread.pause(until: failures > 0 ? Date().addingTimeInterval(min(30, Double(failures) * 2)) : min(nextRescue, nextExtend))
    }

    /// Attributes the previous processes' deaths. Should that keep failing (the quarantine folder full or not
    /// writable), their jobs are returned as suspects without a verdict rather than hold up all claims.
    private func recover() throws {
        let records = pendingRecovery
        guard !records.isEmpty else { return }
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
        pendingRecovery = []
    }
}
