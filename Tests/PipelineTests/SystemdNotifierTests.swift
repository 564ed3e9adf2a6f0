import Foundation
import Pipeline
import TestSupport
import Testing

@Suite struct SystemdNotifierTests {
    @Test func sendsReadyStoppingAndWatchdogToTheNotifySocket() throws {
        let dir = TemporaryDirectory("sd")
        let socket = FakeSystemdSocket(path: dir.file("notify"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "2000000"])
        #expect(notifier.watchdogInterval == 1)
        notifier.ready(status: "processing")
        let ready = try #require(socket.receive())
        #expect(ready.split(separator: "\n").contains("READY=1"))
        #expect(ready.contains("STATUS=processing"))
        notifier.watchdog()
        #expect(socket.receive() == "WATCHDOG=1")
        notifier.watchdog()  // throttled: nothing sent within half the interval
        notifier.stopping()
        #expect(socket.receive()?.hasPrefix("STOPPING=1") == true)
    }

    @Test func abstractNamespaceSocketsAreAddressedWithALeadingNul() throws {
        let name = "pipelined-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name]).status("hello")
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, 0)
        #expect(n > 0 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self) == "STATUS=hello")
    }

    @Test func withoutSystemdNothingIsSent() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(notifier.watchdogInterval == nil)
        notifier.ready(status: "x")  // must not crash or block
    }
}
