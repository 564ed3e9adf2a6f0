import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A dedicated connection that LISTENs on channels. Notifications are only a wake-up hint: callers also poll, so a
/// lost notification (or a dropped connection) delays work by at most one poll interval.
public final class Listener {
    private let url: String
    private let channels: [String]
    private var connection: PGConnection?

    public init(url: String, channels: [String]) {
        precondition(channels.allSatisfy { $0.allSatisfy { $0.isLetter || $0 == "_" } }, "channel names are identifiers")
        self.url = url
        self.channels = channels
    }

    /// Waits up to `timeout` seconds for notifications. Reconnects (and re-LISTENs) when the connection is gone.
    public func wait(timeout: Double) throws -> [(channel: String, payload: String)] {
        let conn = try connected()
        let pending = try drain(conn)
        if !pending.isEmpty { return pending }
        var pfd = pollfd(fd: conn.socket, events: Int16(POLLIN), revents: 0)
        let ms = Int32(max(0, min(timeout, 3600)) * 1000)
        let ready = poll(&pfd, 1, ms)
        if ready <= 0 { return [] }
        return try drain(conn)
    }

    private func drain(_ conn: PGConnection) throws -> [(channel: String, payload: String)] {
        do {
            return try conn.drainNotifications()
        } catch {
            connection = nil
            throw error
        }
    }

    private func connected() throws -> PGConnection {
        if let connection, connection.isHealthy { return connection }
        let conn = try PGConnection(url: url)
        for channel in channels { try conn.command("LISTEN \(channel)", name: "listen.\(channel)") }
        connection = conn
        return conn
    }
}
