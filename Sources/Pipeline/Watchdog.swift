import Foundation
import Logging

/// Feeds systemd's watchdog only while the daemon can work: the store answers (`StoreSupervisor`) and the claim loop
/// turns. A dead database or a stuck claim loop goes unfed, so systemd restarts the daemon within WatchdogSec.
public final class Watchdog: DaemonService, @unchecked Sendable {
    public let name = "watchdog"
    private let notifier: SystemdNotifier
    private let storeHealthy: @Sendable () -> Bool
    private let heartbeat: (@Sendable () -> Date)?
    private let interval: Double

    private let thread = ServiceThread(name: "pipelined.watchdog")

    /// - Parameter heartbeat: when the claim loop last turned (nil: no scheduler runs).
    public init(notifier: SystemdNotifier, storeHealthy: @escaping @Sendable () -> Bool,
                heartbeat: (@Sendable () -> Date)?, interval: Double = 2) {
        self.notifier = notifier
        self.storeHealthy = storeHealthy
        self.heartbeat = heartbeat
        self.interval = min(interval, notifier.watchdogInterval ?? interval)
    }

    public func start() { thread.start { [self] in loop() } }

    public func stop(deadline: Date = .distantFuture) { thread.stop() }

    public func reload(_ config: Config) -> [String] { [] }

    private func loop() {
        repeat {
            let turning = heartbeat.map { Date().timeIntervalSince($0()) < 1.5 * (notifier.watchdogInterval ?? 60) + 5 } ?? true
            if storeHealthy() && turning { notifier.watchdog() }
        } while thread.pause(until: Date().addingTimeInterval(interval))
    }
}
