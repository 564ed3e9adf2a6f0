import Foundation
import Logging
import Store

/// Watches the store, repairs the embedded cluster, and feeds systemd's watchdog only while the daemon can work.
///
/// A killed postmaster would otherwise leave the daemon logging errors for ever while telling systemd all is well.
/// The embedded cluster is restarted with backoff; an external server is only waited for (the pool reconnects).
/// While the store is unreachable, or the claim loop has stopped turning, the watchdog goes unfed, so systemd
/// restarts the daemon if recovery does not come within WatchdogSec.
public final class StoreSupervisor: @unchecked Sendable {
    private let database: Database
    private let cluster: EmbeddedCluster?
    private let notifier: SystemdNotifier
    private let heartbeat: (@Sendable () -> Date)?
    private let interval: Double
    private let logger: Logger

    private let state = NSCondition()
    private var stopping = false
    private var healthy = true
    private let exited = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// - Parameter heartbeat: when the claim loop last turned (nil: no scheduler runs).
    public init(database: Database, cluster: EmbeddedCluster?, notifier: SystemdNotifier,
                heartbeat: (@Sendable () -> Date)?, interval: Double = 2, logger: Logger) {
        self.database = database
        self.cluster = cluster
        self.notifier = notifier
        self.heartbeat = heartbeat
        self.interval = min(interval, notifier.watchdogInterval ?? interval)
        self.logger = logger
    }

    /// Whether the last check reached the store.
    public var isHealthy: Bool {
        state.lock()
        defer { state.unlock() }
        return healthy
    }

    public func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "pipelined.store-supervisor"
        self.thread = thread
        thread.start()
    }

    public func stop() {
        state.lock()
        let running = thread != nil && !stopping
        stopping = true
        state.broadcast()
        state.unlock()
        if running { exited.wait() }
    }

    private func loop() {
        defer { exited.signal() }
        var failures = 0
        var nextRestart = Date()
        while true {
            state.lock()
            if stopping { state.unlock(); return }
            state.unlock()

            var reachable = true
            do { try database.ping() } catch { reachable = false }
            if reachable {
                if failures > 0 { logger.notice("store reachable again", metadata: ["after_checks": "\(failures)"]) }
                failures = 0
            } else {
                failures += 1
                if failures == 1 { logger.error("store unreachable; the watchdog is no longer fed") }
                if let cluster, Date() >= nextRestart {
                    do {
                        if try cluster.restartIfStopped() { logger.notice("embedded PostgreSQL restarted") }
                    } catch {
                        logger.error("cannot restart the embedded PostgreSQL; retrying", metadata: ["error": "\(error)"])
                    }
                    nextRestart = Date().addingTimeInterval(min(30, Double(1 << min(failures - 1, 5))))
                }
            }
            state.lock()
            healthy = reachable
            state.unlock()
            let turning = heartbeat.map { Date().timeIntervalSince($0()) < 1.5 * (notifier.watchdogInterval ?? 60) + 5 } ?? true
            if reachable && turning { notifier.watchdog() }

            state.lock()
            if !stopping { _ = state.wait(until: Date().addingTimeInterval(interval)) }
            state.unlock()
        }
    }
}
