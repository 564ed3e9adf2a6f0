import Foundation
import Logging
import Store

/// Inbox watching, ingest and label intake, one service: the watcher (libinotifytools allows one per process)
/// hands each file to the ingestor or, in the labels inbox, to the label intake. Its inboxes, scan settings and
/// labels apply live — a reload that changes them restarts the three with the new ones; where files are archived and
/// quarantined, and how many attempts a job gets, apply only at a restart (the scheduler uses the same places).
final class IntakeService: DaemonService, @unchecked Sendable {
    let name = "intake"
    private let database: Database
    private let logger: Logger
    private let makeImporter: LabelImporterFactory
    private let lock = NSLock()
    private var config: Config
    private var ingestor: Ingestor?
    private var watcher: InboxWatcher?
    private var labels: LabelIntake?

    init(database: Database, config: Config, logger: Logger, makeImporter: @escaping LabelImporterFactory) {
        self.database = database
        self.makeImporter = makeImporter
        self.config = config
        self.logger = logger
    }

    /// The ingestor, for uploads (nil while stopped or restarting).
    var currentIngestor: Ingestor? {
        lock.lock()
        defer { lock.unlock() }
        return ingestor
    }

    var isWatching: Bool {
        lock.lock()
        defer { lock.unlock() }
        return watcher != nil
    }

    func start() throws {
        lock.lock()
        defer { lock.unlock() }
        try startLocked()
    }

    private func startLocked() throws {
        let ingestor = Ingestor(database: database, inboxes: config.effectiveInboxes,
                                ignoredSuffixes: config.ignoredSuffixes, archiveRoot: config.archiveRoot,
                                maxAttempts: config.maxAttempts, emptyGrace: config.settleSeconds, logger: logger)
        ingestor.start()
        let labels = LabelIntake(importer: makeImporter(database, config, logger), root: config.labelsInbox, logger: logger)
        let watcher = InboxWatcher(inboxes: config.effectiveInboxes + [InboxConfig(name: "labels", path: config.labelsInbox)],
                                   ignoredSuffixes: config.ignoredSuffixes,
                                   settleSeconds: config.settleSeconds, scanInterval: config.scanInterval,
                                   pollInterval: config.pollInterval, logger: logger) { [ingestor, labels] path in
            if labels.owns(path) { labels.submit(path) } else { ingestor.submit(path) }
        }
        do { try watcher.start() } catch {
            ingestor.stop()
            labels.stop()
            throw error
        }
        (self.ingestor, self.labels, self.watcher) = (ingestor, labels, watcher)
    }

    func stop(deadline: Date) {
        lock.lock()
        defer { lock.unlock() }
        stopLocked()
    }

    private func stopLocked() {
        watcher?.stop()
        ingestor?.stop()
        labels?.stop()
        (watcher, ingestor, labels) = (nil, nil, nil)
    }

    func reload(_ fresh: Config) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        var restartOnly: [String] = []
        if fresh.archiveRoot != config.archiveRoot { restartOnly.append("archive_directory") }
        if fresh.quarantineRoot != config.quarantineRoot { restartOnly.append("quarantine_directory") }
        if fresh.maxAttempts != config.maxAttempts { restartOnly.append("queue.max_attempts") }
        var live = config   // the running places and attempts, the new inboxes, scans and labels
        live.inboxes = fresh.inboxes
        live.ignoredSuffixes = fresh.ignoredSuffixes
        live.settleSeconds = fresh.settleSeconds
        live.scanInterval = fresh.scanInterval
        live.pollInterval = fresh.pollInterval
        live.labels = fresh.labels
        guard live != config else { return restartOnly }
        stopLocked()
        config = live
        do { try startLocked() } catch {
            logger.error("cannot restart inbox watching with the new configuration", metadata: ["error": "\(error)"])
        }
        logger.notice("intake restarted with the new inboxes and scan settings")
        return restartOnly
    }
}
