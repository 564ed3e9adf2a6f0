import Foundation

/// A small pool of connections to one database. Broken connections are dropped and replaced on next use, which is
/// how the store reconnects after the server goes away: the failing call throws a transient error, the caller
/// retries later, and the retry gets a fresh connection.
public final class Database: @unchecked Sendable {
    public let url: String
    private let lock = NSLock()
    private var idle: [PGConnection] = []
    private let maxIdle: Int

    public init(url: String, maxIdle: Int = 4) {
        self.url = url
        self.maxIdle = maxIdle
    }

    /// Lends a connection to `body`. The connection goes back to the pool only if it is still healthy and not in a
    /// transaction left open by a failure.
    func withConnection<T>(_ body: (PGConnection) throws -> T) throws -> T {
        let connection = try checkout()
        do {
            let value = try body(connection)
            checkin(connection)
            return value
        } catch {
            checkin(connection)
            throw error
        }
    }

    /// Shorthand for one statement on a pooled connection.
    @discardableResult
    func query(_ statement: Statement, _ params: [(any PGBindable)?] = []) throws -> [PGRow] {
        try withConnection { try $0.query(statement, params) }
    }

    /// Shorthand for a transaction on a pooled connection.
    func transaction<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try withConnection { try $0.transaction(body) }
    }

    /// Closes every idle connection.
    public func close() {
        lock.lock()
        idle.removeAll()
        lock.unlock()
    }

    private func checkout() throws -> PGConnection {
        lock.lock()
        while let connection = idle.popLast() {
            lock.unlock()
            if connection.isHealthy { return connection }
            lock.lock()
        }
        lock.unlock()
        return try PGConnection(url: url)
    }

    private func checkin(_ connection: PGConnection) {
        guard connection.isHealthy else { return }
        lock.lock()
        if idle.count < maxIdle { idle.append(connection) }
        lock.unlock()
    }
}
