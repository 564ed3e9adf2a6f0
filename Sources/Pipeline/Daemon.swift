import Dispatch
import Foundation
import Logging
import Store

/// The long-running daemon: a group of services (store, intake, fine-tuner and model switcher, HTTP, scheduler,
/// store supervisor, watchdog) started in order and stopped in reverse within the shutdown budget; signals and
/// systemd notification. It knows nothing of models: the caller supplies the stages (or none, when no model is
/// configured) and any services beside the job queue.
public final class Daemon: @unchecked Sendable {
    /// Builds the stages once the database is up. Returning nil means "no detector available": files are still
    /// ingested and queued, but nothing is claimed.
    public typealias StageFactory = @Sendable (Database, Config) throws -> [any Stage]?

    private var config: Config
    private let configPath: String?
    private let makeStages: StageFactory
    private let makeLabelImporter: LabelImporterFactory
    /// Work beside the job queue (the fine-tuner, the model switcher), started after the stages are built and
    /// stopped after the scheduler.
    public var makeServices: ((Database, Config) throws -> [any DaemonService])?
    private var logger: Logger
    private let notifier = SystemdNotifier()
    private let signals = SignalWatcher()
    private let stopRequested = DispatchSemaphore(value: 0)
    private let reloadLock = NSLock()

    private lazy var services = ServiceGroup(logger: logger)
    private var cluster: EmbeddedCluster?
    private var database: Database?
    private var intake: IntakeService?
    private var scheduler: Scheduler?
    private var supervisor: StoreSupervisor?
    /// Whether the store service owns the database and cluster yet (before, a failed start stops the cluster itself).
    private var storeRegistered = false

    public init(config: Config, configPath: String?, logger: Logger, labels makeLabelImporter: @escaping LabelImporterFactory,
                makeStages: @escaping StageFactory) {
        self.makeLabelImporter = makeLabelImporter
        self.config = config
        self.configPath = configPath
        self.logger = logger
        self.makeStages = makeStages
    }

    /// A worker identity that is unique across hosts and restarts (it names lease owners and provenance rows):
    /// `host:pidns:pid:nonce`. The pid namespace tells containers that share a host name apart, so that a pid is only
    /// ever looked up where it means the same process.
    public static func workerIdentity() -> String {
        var namespace = "0"
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid"),
           let open = link.firstIndex(of: "["), let close = link.firstIndex(of: "]") {
            namespace = String(link[link.index(after: open)..<close])
        }
        return "\(ProcessInfo.processInfo.hostName):\(namespace):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Where a worker made by `workerIdentity` runs (host and pid namespace) and its pid: its identity but the
    /// last two parts.
    static func workerPlace(_ identity: String) -> (place: String, pid: Int32?) {
        let parts = identity.split(separator: ":")
        return (parts.dropLast(2).joined(separator: ":"), parts.count >= 3 ? Int32(parts[parts.count - 2]) : nil)
    }

    /// Connects (starting the embedded cluster if no URL is configured) and migrates. Used by `run`, `migrate`,
    /// `status` and `ingest`.
    public static func openDatabase(_ config: Config, logger: Logger, cluster: inout EmbeddedCluster?,
                                    patience: Double = 0) throws -> Database {
        // A configured server may be restarting (or not up yet at boot): keep trying for `patience` seconds.
        let deadline = Date().addingTimeInterval(patience)
        var delay = 1.0
        while true {
            do {
                return try connectAndMigrate(config, logger: logger, cluster: &cluster)
            } catch let error as StoreError where error.isTransient && Date() < deadline {
                logger.warning("database not reachable yet; retrying", metadata: ["error": "\(error)", "retry_in_s": "\(delay)"])
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 10)
            }
        }
    }

    private static func connectAndMigrate(_ config: Config, logger: Logger, cluster: inout EmbeddedCluster?) throws -> Database {
        let url: String
        if let configured = config.databaseURL {
            url = configured
        } else {
            let embedded = EmbeddedCluster(directory: URL(fileURLWithPath: config.embeddedClusterDirectory),
                                           logger: logger)
            url = try embedded.start()
            cluster = embedded
        }
        try Migrator(logger: logger).migrate(url: url)
        return Database(url: url)
    }

    /// Runs until SIGTERM or SIGINT. Returns the process exit status.
    public func run() throws -> Int32 {
        signals.install([
            SIGTERM: { [self] in stopRequested.signal() },
            SIGINT: { [self] in stopRequested.signal() },
            SIGHUP: { [self] in reload() },
        ])
        let stateLock = try StateDirectoryLock.acquire(config.stateDirectory)
        defer { stateLock.release() }
        do {
            try start()
        } catch {
            // Whatever started before the failure (the embedded cluster above all) stops again.
            stopEverything(budget: 0)
            throw error
        }
        stopRequested.wait()
        logger.notice("shutting down", metadata: ["budget_s": "\(config.shutdownBudgetSeconds)"])
        notifier.stopping()
        stopEverything(budget: config.shutdownBudgetSeconds)
        logger.notice("stopped")
        return 0
    }

    private func start() throws {
        // A wrong listen address or a missing token is a configuration error: refused before anything starts.
        if let (host, _) = try config.http.address() { _ = try HTTPListener.token(config.http, host: host) }
        DaemonMetrics.bootstrap()
        let database = try Self.openDatabase(config, logger: logger, cluster: &cluster, patience: 60)
        self.database = database
        let cluster = self.cluster
        try services.start(FixedService(name: "store", config: config, settings: {
            ["database.url": "\($0.databaseURL ?? "embedded")", "state_directory": $0.stateDirectory]
        }, stop: { _ in
            database.close()
            // A one-shot command (`pipelined status`) still using the cluster gets a moment to finish.
            cluster?.stop(waitForOthers: 10)
        }))
        storeRegistered = true
        intake = try services.start(IntakeService(database: database, config: config, logger: logger, makeImporter: makeLabelImporter))

        let owner = Self.workerIdentity()
        var schedulerServices: [any DaemonService] = []
        if let stages = try makeStages(database, config) {
            // Which jobs were in flight, and the fatal signal, survive this process for the next one to read.
            let (journal, previous) = try CrashJournal.open(path: config.stateDirectory + "/inflight.journal", owner: owner)
            journal.recordFatalSignals()
            let scheduler = Scheduler(
                database: database, listenerURL: database.url, stages: stages,
                settings: .init(owner: owner, maxInFlight: config.maxInFlight, leaseSeconds: config.leaseSeconds,
                                claimPollInterval: config.claimPollInterval, stageConcurrency: config.stageConcurrency,
                                archiveID: try ArchiveIdentity.id(of: config.archiveRoot)),
                archiveRoot: config.archiveRoot, quarantineRoot: config.quarantineRoot, notifier: notifier,
                logger: logger, journal: journal, previous: previous)
            self.scheduler = scheduler
            // The stages and the queue are built with these (the detect stage's model, questions and strategy, the
            // queue's bounds): a change is named on reload, applied at the next start. Stopped after the scheduler's
            // services, it logs the run's totals.
            schedulerServices = [FixedService(name: "stage settings", config: config, settings: Self.stageSettings,
                                              stop: { _ in scheduler.logStopped() })] + scheduler.services
            logger.info("daemon ready", metadata: [
                "worker": "\(owner)", "stages": "\(stages.map(\.name))", "database": "\(config.databaseDescription)",
                "inboxes": "\(config.effectiveInboxes.map(\.path).joined(separator: ", "))"])
        } else {
            logger.warning("no model configured: images are ingested and queued but not processed; set model.path in the config or PIPELINED_MODEL (model.path = \"none\" turns the default model off)")
        }
        for service in try makeServices?(database, config) ?? [] { try services.start(service) }
        try startHTTP(database)
        // READY once the store and the watcher are up; the watchdog's first ping follows it.
        notifier.ready(status: scheduler == nil ? "ingesting; no model configured, jobs stay queued" : "processing")
        for service in schedulerServices { try services.start(service) }

        let supervisor = try services.start(StoreSupervisor(database: database, cluster: cluster, logger: logger))
        self.supervisor = supervisor
        var heartbeat: (@Sendable () -> Date)?
        if let scheduler { heartbeat = { scheduler.heartbeat } }
        try services.start(Watchdog(notifier: notifier, storeHealthy: { supervisor.isHealthy }, heartbeat: heartbeat))
    }

    /// What the stages and the queue are built with, by configuration name: only a restart applies a change.
    static func stageSettings(_ c: Config) -> [String: String] {
        ["queue": "\(c.maxInFlight) \(c.leaseSeconds) \(c.claimPollInterval)",
         "queue.stages": "\(c.stageConcurrency.sorted { $0.key < $1.key })",
         "model.path": c.modelPath ?? "", "model.grounding_path": c.groundingModelPath ?? "", "model.prompts": "\(c.prompts ?? [])", "query": "\(c.query)", "limits": "\(c.limits)",
         // An inbox added without a vocabulary is the intake's, applied live: only inboxes that ask one count here.
         "inbox vocabularies": "\(c.effectiveInboxes.filter { $0.vocabulary != nil || $0.strategy != nil }.map { [$0.name, $0.vocabulary ?? "", $0.strategy ?? ""] })"]
    }

    /// The HTTP listener. A port someone else holds costs metrics and probes, not the processing of images: logged,
    /// and the daemon goes on without it.
    private func startHTTP(_ database: Database) throws {
        let http = HTTPListener(settings: config.http, logger: logger, database: database,
                                upload: { [weak self] bytes, name, questions in
                                    guard let self else { throw UploadError("the daemon is stopping") }
                                    return try self.ingestUpload(bytes, name: name, questions: questions, database: database)
                                }, maxUploadBytes: config.limits.maxFileBytes, archiveRoot: config.archiveRoot,
                                readiness: { [weak self] in self?.notReadyReasons() ?? ["stopping"] },
                                metrics: { [weak self] in self?.scrapeMetrics() ?? "" })
        let service = FixedService(name: "http", config: config, settings: { ["http": "\($0.http)"] },
                                   start: { try http.start() }, stop: { _ in http.stop() })
        do { try services.start(service) } catch HTTPListenerError.cannotListen(let listen, let reason) {
            logger.error("http listener not started; the daemon runs without metrics and probes",
                         metadata: ["listen": "\(listen)", "reason": "\(reason)"])
        }
    }

    /// An upload: written into `<state>/uploads` (watched by nobody) under a hidden name with its sidecar, then
    /// ingested on the ingest thread's turn as a dropped file of the `upload` inbox would be.
    private func ingestUpload(_ bytes: Data, name: String, questions: String?, database: Database) throws -> UploadReceipt {
        guard let ingestor = intake?.currentIngestor else { throw UploadError("intake is not running") }
        let directory = config.stateDirectory + "/uploads"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/.upload-\(UUID().uuidString)"
        defer { unlink(path); unlink(path + SidecarQueries.suffix) }   // gone already when ingested
        try bytes.write(to: URL(fileURLWithPath: path))
        if let questions { try Data(questions.utf8).write(to: URL(fileURLWithPath: path + SidecarQueries.suffix)) }
        switch try ingestor.ingestUpload(path: path, originalName: name, inbox: InboxConfig(name: "upload", path: directory)) {
        case let .created(imageID, jobID, _): return UploadReceipt(imageID: imageID, jobID: jobID, duplicate: false)
        case let .duplicate(imageID, _): return UploadReceipt(imageID: imageID, jobID: try database.jobID(imageID: imageID), duplicate: true)
        case let .skipped(reason), let .refused(_, reason, _): throw UploadError(reason)
        }
    }

    /// Why the daemon cannot do its work now (empty: ready): the store, the watcher, a model.
    private func notReadyReasons() -> [String] {
        var reasons: [String] = []
        if supervisor?.isUnreachable == true || database == nil { reasons.append("the database does not answer") }
        if intake?.isWatching != true { reasons.append("the inboxes are not watched") }
        if scheduler == nil { reasons.append("no model is loaded: images are queued, not processed") }
        return reasons
    }

    /// Prometheus text: the counters and histograms kept in memory, and the queue and active model as the database
    /// has them (left out while it does not answer).
    private func scrapeMetrics() -> String {
        var jobs: [String: Int] = [:]
        var model: String?
        if supervisor?.isUnreachable != true, let database {
            jobs = (try? database.queueStatus(failures: 0).counts) ?? [:]
            model = (try? database.activeModel())??.label
        }
        return DaemonMetrics.scrape(jobs: jobs, activeModel: model)
    }

    /// Stops, in reverse order of starting, whatever has been started.
    private func stopEverything(budget: Double) {
        services.stopAll(budget: budget)
        if !storeRegistered {
            // The start failed before the store became a service (e.g. migrations after the cluster came up).
            database?.close()
            cluster?.stop(waitForOthers: 10)
        }
    }

    /// SIGHUP: re-read the config file. The log level and shutdown budget apply at once; each service applies what
    /// it can change live (the intake: inboxes, scans, labels) and names the restart-only settings that changed.
    private func reload() {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        notifier.reloading()
        defer { notifier.ready(status: "configuration reloaded") }
        let fresh: Config
        do {
            fresh = try ConfigLoader.load(path: configPath)
        } catch {
            logger.error("configuration reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
            return
        }
        if let level = Logger.Level(rawValue: fresh.logLevel) { logger.logLevel = level }
        config.logLevel = fresh.logLevel
        config.shutdownBudgetSeconds = fresh.shutdownBudgetSeconds
        let restartNeeded = services.reload(fresh)
        logger.notice("configuration reloaded", metadata: [
            "needs_restart": "\(restartNeeded.isEmpty ? "none" : restartNeeded.joined(separator: ","))",
        ])
    }
}
