import Foundation
import Logging
import Store

/// Watches the store and repairs the embedded cluster.
///
/// A killed postmaster would otherwise leave the daemon logging errors for ever while telling systemd all is well.
/// The embedded cluster is restarted with backoff; an external server is only waited for (the pool reconnects).
/// `Watchdog` feeds systemd only while the last check here reached the store.
public final class StoreSupervisor: DaemonService, @unchecked Sendable {
    public let name = "store supervisor"
    private let database: Database
    private let cluster: EmbeddedCluster?
    private let interval: Double
    private let logger: Logger

    private let state = NSLock()
    /// nil until the first check.
    private var healthy: Bool?
    private let thread = ServiceThread(name: "pipelined.store-supervisor")

    public init(database: Database, cluster: EmbeddedCluster?, interval: Double = 2, logger: Logger) {
        self.database = database
        self.cluster = cluster
        self.interval = interval
        self.logger = logger
    }

    /// Whether the last check reached the store (false before the first).
    public var isHealthy: Bool {
        state.lock()
        defer { state.unlock() }
        return healthy == true
    }

    /// Whether a check has found the store unreachable (false before the first).
    public var isUnreachable: Bool {
        state.lock()
        defer { state.unlock() }
        return healthy == false
    }

    public func start() { thread.start { [self] in loop() } }

    public func stop(deadline: Date = .distantFuture) { thread.stop() }

    private func loop() {
        var failures = 0
        var nextRestart = Date()
        repeat {
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
        } while thread.pause(until: Date().addingTimeInterval(interval))
    }

    public func reload(_ config: Config) -> [String] { [] }
}
