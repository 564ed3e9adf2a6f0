import CInotifyTools
import Foundation
import Logging

/// Watches inbox directories with libinotifytools and hands every finished file to `onFile`.
///
/// Files count as finished on close-after-write and on being moved in (the safe way to publish a file). Events can
/// be missed — the daemon was down, the kernel queue overflowed, the filesystem (NFS, SMB) never reports — so a
/// reconciliation scan runs at start-up, after an overflow and periodically; polled inboxes rely on scans alone.
///
/// libinotifytools keeps process-global state: one watcher per process.
public final class InboxWatcher: @unchecked Sendable {
    private let inboxes: [Inbox]
    private let scanner: InboxScanner
    private let scanInterval: Double
    private let pollInterval: Double
    private let onFile: @Sendable (String) -> Void
    private let logger: Logger

    private let stopLock = NSLock()
    private var stopRequested = false
    private var followUpScan: Date?
    private let finished = DispatchSemaphore(value: 0)
    private var polled: [Inbox] = []

    public init(inboxes: [InboxConfig], ignoredSuffixes: [String], settleSeconds: Double, scanInterval: Double,
                pollInterval: Double, logger: Logger, onFile: @escaping @Sendable (String) -> Void) {
        self.inboxes = inboxes.map(Inbox.init)
        self.scanner = InboxScanner(filter: InboxFilter(ignoredSuffixes: ignoredSuffixes), settleSeconds: settleSeconds)
        self.scanInterval = scanInterval
        self.pollInterval = pollInterval
        self.logger = logger
        self.onFile = onFile
    }

    static let events = Int32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)

    /// Sets up the watches, then scans every inbox once, then starts the event thread. Watches come first so nothing
    /// that arrives during the scan is missed (a file seen by both is ingested once: ingest is idempotent).
    public func start() throws {
        guard inotifytools_initialize() != 0 else {
            throw WatcherError.inotify(path: "-", reason: String(cString: strerror(inotifytools_error())))
        }
        for inbox in inboxes {
            do {
                try FileManager.default.createDirectory(atPath: inbox.root, withIntermediateDirectories: true)
            } catch {
                throw WatcherError.inbox(path: inbox.root, reason: "\(error)")
            }
            if inbox.config.poll {
                polled.append(inbox)
                logger.info("inbox polled", metadata: ["inbox": "\(inbox.config.name)", "path": "\(inbox.root)",
                                                       "interval": "\(pollInterval)"])
            } else if inotifytools_watch_recursively(inbox.root, Self.events) == 0 {
                // Typically the watch limit (fs.inotify.max_user_watches): fall back to polling rather than go blind.
                logger.error("cannot watch inbox with inotify; polling it instead",
                             metadata: ["inbox": "\(inbox.config.name)", "path": "\(inbox.root)",
                                        "error": "\(String(cString: strerror(inotifytools_error())))"])
                polled.append(inbox)
            } else {
                logger.info("inbox watched", metadata: ["inbox": "\(inbox.config.name)", "path": "\(inbox.root)"])
            }
        }
        scan(inboxes, reason: "start-up")
        let thread = Thread { [self] in loop() }
        thread.name = "pipelined.watch"
        thread.start()
    }

    /// Stops the event thread (within about a second: libinotifytools' wait cannot be interrupted).
    public func stop() {
        stopLock.lock()
        let already = stopRequested
        stopRequested = true
        stopLock.unlock()
        guard !already else { return }
        finished.wait()
        inotifytools_cleanup()
    }

    private var shouldStop: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopRequested
    }

    private func loop() {
        var nextScan = Date().addingTimeInterval(scanInterval)
        var nextPoll = Date().addingTimeInterval(pollInterval)
        while !shouldStop {
            // A timeout of at least one second: 0 or negative blocks forever in this libinotifytools version.
            if let event = inotifytools_next_event(1) {
                handle(event)
            }
            let now = Date()
            if now >= nextScan {
                scan(inboxes, reason: "periodic")
                nextScan = now.addingTimeInterval(scanInterval)
            }
            if followUpDue { scan(inboxes, reason: "follow-up") }
            if !polled.isEmpty && now >= nextPoll {
                scan(polled, reason: "poll")
                nextPoll = now.addingTimeInterval(pollInterval)
            }
        }
        finished.signal()
    }

    private func handle(_ event: UnsafeMutablePointer<inotify_event>) {
        let mask = event.pointee.mask
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            overflowed()
            return
        }
        guard let dirPointer = inotifytools_filename_from_wd(event.pointee.wd) else { return }
        var dir = String(cString: dirPointer)
        if dir.hasSuffix("/") { dir.removeLast() }
        let name = String(cString: cinotify_event_name(event))
        guard !name.isEmpty else { return }
        let path = dir + "/" + name

        if mask & UInt32(IN_ISDIR) != 0 {
            guard mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0, !name.hasPrefix(".") else { return }
            if inotifytools_watch_recursively(path, Self.events) == 0 {
                logger.error("cannot watch new directory", metadata: ["path": "\(path)"])
            }
            // Files may have landed before the watch existed; a directory moved in arrives complete.
            let settle = mask & UInt32(IN_MOVED_TO) != 0 ? 0 : scanner.settleSeconds
            let quick = InboxScanner(filter: scanner.filter, settleSeconds: settle).scan(under: path)
            for file in quick.ready { onFile(file) }
            if quick.skippedYoung { scheduleFollowUp() }
            return
        }
        if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0, accepts(path) {
            onFile(path)
        } else if mask & UInt32(IN_CREATE) != 0, accepts(path) {
            // A regular file is taken when its writer closes it; anything else created here (mkfifo, a symbolic
            // link, a socket) never closes after writing, so it is reported now.
            var info = stat()
            if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG { onFile(path) }
        }
    }

    /// Events were lost: rescan (a follow-up scan takes the files too young for this one once they settle).
    func overflowed() {
        logger.warning("inotify queue overflowed; rescanning inboxes")
        DaemonMetrics.inotifyOverflow()
        scan(inboxes, reason: "overflow")
    }

    private func scheduleFollowUp() {
        stopLock.lock()
        let due = Date().addingTimeInterval(scanner.settleSeconds + 0.5)
        followUpScan = min(followUpScan ?? due, due)
        stopLock.unlock()
    }

    private var followUpDue: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        guard let due = followUpScan, Date() >= due else { return false }
        followUpScan = nil
        return true
    }

    private func accepts(_ path: String) -> Bool {
        guard let relative = inboxes.lazy.compactMap({ $0.relativePath(of: path) }).first else { return false }
        return scanner.filter.accepts(relativePath: relative)
    }

    /// Hands on every settled file. Files passed over for being too young get a follow-up scan once they have
    /// settled: a file whose events were lost (overflow, or written while the daemon was down and closed just before
    /// the start-up scan) would otherwise wait for the next periodic scan.
    private func scan(_ list: [Inbox], reason: String) {
        DaemonMetrics.watcherRescan(reason: reason)
        var found = 0
        var skippedYoung = false
        for inbox in list {
            let result = scanner.scan(under: inbox.root)
            for file in result.ready {
                onFile(file)
                found += 1
            }
            skippedYoung = skippedYoung || result.skippedYoung
        }
        if skippedYoung { scheduleFollowUp() }
        if found > 0 || reason != "poll" {
            logger.debug("inbox scan", metadata: ["reason": "\(reason)", "files": "\(found)"])
        }
    }
}

/// Why an inbox cannot be watched.
public enum WatcherError: Error, CustomStringConvertible {
    case inbox(path: String, reason: String)
    case inotify(path: String, reason: String)

    public var description: String {
        switch self {
        case let .inbox(path, reason): return "cannot use inbox \(path): \(reason)"
        case let .inotify(path, reason): return "inotify failed for \(path): \(reason)"
        }
    }
}
