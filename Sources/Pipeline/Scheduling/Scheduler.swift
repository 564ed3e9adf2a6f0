import Dispatch
import Foundation
import Logging
import Store

/// Runs claimed jobs through the stages: four parts, each with one job, sharing the set of jobs held
/// (`InFlightJobs`) — claiming (`JobClaimer`), rescuing and lease extension (`LeaseKeeper`), the stage lanes
/// (`StageLanes`) and outcome recording (`OutcomeRecorder`, the one place a job's outcome is written). The first
/// three are services; the daemon starts them in `services` order and stops them in reverse: claiming ends first,
/// the lanes return unstarted work and drain within the budget, and leases stay fresh until they have.
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

    private let jobs = InFlightJobs()
    private let lanes: StageLanes
    private let keeper: LeaseKeeper
    private let claimer: JobClaimer
    private let logger: Logger

    /// - Parameters:
    ///   - journal: this process's crash journal; `previous` is what the last process on the state directory left.
    public init(database: Database, listenerURL: String, stages: [any Stage], settings: Settings,
                archiveRoot: String, quarantineRoot: String, notifier: SystemdNotifier?, logger: Logger,
                journal: CrashJournal? = nil, previous: [CrashJournal.Record] = []) {
        let quarantine = Quarantine(archiveRoot: archiveRoot, quarantineRoot: quarantineRoot)
        let outcomes = OutcomeRecorder(database: database, jobs: jobs, quarantine: quarantine, journal: journal,
                                       owner: settings.owner, logger: logger)
        lanes = StageLanes(stages: stages, concurrency: settings.stageConcurrency, jobs: jobs, outcomes: outcomes, journal: journal)
        keeper = LeaseKeeper(database: database, jobs: jobs,
                             recovery: CrashRecovery(database: database, quarantine: quarantine, logger: logger),
                             journal: journal, previous: previous, owner: settings.owner, leaseSeconds: settings.leaseSeconds,
                             logger: logger)
        claimer = JobClaimer(database: database, listenerURL: listenerURL, settings: settings, jobs: jobs, lanes: lanes,
                             keeper: keeper, journal: journal, archiveRoot: archiveRoot,
                             watchdogInterval: notifier?.watchdogInterval, logger: logger)
        self.logger = logger
    }

    /// In start order.
    public var services: [any DaemonService] { [keeper, lanes, claimer] }

    /// Starts the services (what the daemon does through its service group).
    public func start() { for service in services { try? service.start() } }

    /// Stops claiming, returns work that has not started to the queue, lets started work finish for up to
    /// `budget` seconds, then returns what is still unfinished. Afterwards no job is leased by this worker.
    public func shutdown(budget: Double) {
        let deadline = Date().addingTimeInterval(budget)
        for service in services.reversed() { service.stop(deadline: deadline) }
        logStopped()
    }

    /// The run's totals, once the lanes have drained.
    func logStopped() {
        let final = currentStats
        logger.info("scheduler stopped", metadata: [
            "completed": "\(final.completed)", "quarantined": "\(final.quarantined)", "retried": "\(final.retried)",
            "discarded": "\(final.discarded)",
            "stage_total_ms": "\(final.stageMS.mapValues { ($0 * 10).rounded() / 10 })",
        ])
    }

    public var currentStats: Stats { jobs.currentStats }

    /// When the claim loop last went round (it does at least every claim poll interval or watchdog half-period).
    public var heartbeat: Date { claimer.heartbeat }

    public var inFlightCount: Int { jobs.count }

    /// Timings as compact JSON with keys in order, rounded to 0.1 ms.
    static func json(_ timings: [String: Double]) -> String {
        "{" + timings.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\(($0.value * 10).rounded() / 10)" }.joined(separator: ",") + "}"
    }
}

public enum SchedulerError: Error, CustomStringConvertible {
    case noStageCompleted(lastStage: String)
    case noInput(stage: String)

    public var description: String {
        switch self {
        case let .noStageCompleted(last): return "the last stage (\(last)) finished without recording results"
        case let .noInput(stage): return "the \(stage) stage found no input from the stage before it"
        }
    }
}
