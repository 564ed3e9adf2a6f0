import Foundation
import Logging
import Pipeline
import Store
import TestSupport
import Testing

/// systemd's watchdog is fed only while the daemon can work: the store answers and the claim loop turns.
@Suite struct StoreSupervisorTests {
    /// The store supervisor and the watchdog as the daemon runs them; stop them with `stop`.
    final class Supervised {
        let supervisor: StoreSupervisor
        let watchdog: Watchdog
        init(_ supervisor: StoreSupervisor, _ watchdog: Watchdog) {
            self.supervisor = supervisor
            self.watchdog = watchdog
        }
        var isHealthy: Bool { supervisor.isHealthy }
        func start() {
            supervisor.start()
            watchdog.start()
        }
        func stop() {
            watchdog.stop()
            supervisor.stop()
        }
    }

    func supervise(_ url: String, heartbeat: (@Sendable () -> Date)? = nil) -> (Supervised, FakeSystemdSocket, TemporaryDirectory) {
        let dir = TemporaryDirectory("sup")
        let socket = FakeSystemdSocket(path: dir.file("notify"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
        let supervisor = StoreSupervisor(database: Database(url: url), cluster: nil, interval: 0.1, logger: Logger(label: "test"))
        let watchdog = Watchdog(notifier: notifier, storeHealthy: { supervisor.isHealthy }, heartbeat: heartbeat, interval: 0.1)
        return (Supervised(supervisor, watchdog), socket, dir)
    }

    @Test func aReachableStoreFeedsTheWatchdog() throws {
        let (supervisor, socket, _dir) = supervise(try TestDatabase.fresh())
        _ = _dir
        supervisor.start()
        defer { supervisor.stop() }
        #expect(socket.receive(timeout: 3) == "WATCHDOG=1")
        #expect(supervisor.isHealthy)
    }

    /// The daemon used to ping the watchdog from its claim loop whether or not the store answered, so a dead
    /// database never made systemd restart it.
    @Test func anUnreachableStoreStarvesTheWatchdog() {
        let (supervisor, socket, _dir) = supervise("host=/nonexistent port=5432 dbname=x connect_timeout=1")
        _ = _dir
        supervisor.start()
        defer { supervisor.stop() }
        #expect(socket.receive(timeout: 2) == nil)
        #expect(!supervisor.isHealthy)
    }

    @Test func aClaimLoopThatStoppedTurningStarvesTheWatchdog() throws {
        let stale = Date().addingTimeInterval(-3600)
        let (supervisor, socket, _dir) = supervise(try TestDatabase.fresh(), heartbeat: { stale })
        _ = _dir
        supervisor.start()
        defer { supervisor.stop() }
        #expect(socket.receive(timeout: 2) == nil)
        #expect(supervisor.isHealthy)
    }
}
