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

    private let state = NSCondition()
    private var stopping = false
    private let exited = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// - Parameter heartbeat: when the claim loop last turned (nil: no scheduler runs).
    public init(notifier: SystemdNotifier, storeHealthy: @escaping @Sendable () -> Bool,
                heartbeat: (@Sendable () -> Date)?, interval: Double = 2) {
        self.notifier = notifier
        self.storeHealthy = storeHealthy
        self.heartbeat = heartbeat
        self.interval = min(interval, notifier.watchdogInterval ?? interval)
    }

    public func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "pipelined.watchdog"
        self.thread = thread
        thread.start()
    }

    public func stop(deadline: Date = .distantFuture) {
        state.lock()
        let running = thread != nil && !stopping
        stopping = true
        state.broadcast()
        state.unlock()
        if running { exited.wait() }
    }

    public func reload(_ config: Config) -> [String] { [] }

    private func loop() {
        defer { exited.signal() }
        while true {
            state.lock()
            if stopping { state.unlock(); return }
            state.unlock()
            let turning = heartbeat.map { Date().timeIntervalSince($0()) < 1.5 * (notifier.watchdogInterval ?? 60) + 5 } ?? true
            if storeHealthy() && turning { notifier.watchdog() }
            state.lock()
            if !stopping { _ = state.wait(until: Date().addingTimeInterval(interval)) }
            state.unlock()
        }
    }
}
