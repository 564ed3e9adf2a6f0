import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol without libsystemd: datagrams of `KEY=value` lines to `$NOTIFY_SOCKET`.
/// Does nothing when not started by systemd.
public final class SystemdNotifier: @unchecked Sendable {
    private let socketPath: String?
    /// Half the watchdog interval, when systemd asked for pings (`WatchdogSec=`).
    public let watchdogInterval: Double?
    private let lock = NSLock()
    private var lastPing = Date.distantPast

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(Double.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = usec / 2e6
        } else {
            watchdogInterval = nil
        }
    }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }
    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }
    public func reloading() { send("RELOADING=1") }
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// Pings the watchdog, at most once per half interval; cheap to call from a loop.
    public func watchdog() {
        guard let interval = watchdogInterval else { return }
        lock.lock()
        let due = Date().timeIntervalSince(lastPing) >= interval
        if due { lastPing = Date() }
        lock.unlock()
        if due { send("WATCHDOG=1") }
    }

    @discardableResult
    func send(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketPath.utf8)
        // A leading '@' names a socket in the abstract namespace, whose address starts with a NUL byte.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text, strlen(text), 0, $0, length)
                }
            }
        }
        return sent >= 0
    }
}
