import Foundation

/// Queue counts and recent failures, for `pipelined status`.
public struct QueueStatus: Sendable {
    public var counts: [String: Int]
    public var quarantined: Int
    public var recentFailures: [(name: String, kind: String, reason: String)]
}

extension Database {
    static let stateCounts = Statement("status.state_counts", "SELECT state, count(*) AS n FROM jobs GROUP BY state")
    static let quarantinedCount = Statement("status.quarantined",
                                            "SELECT count(*) AS n FROM images WHERE status = 'quarantined'")
    static let recentFailures = Statement("status.recent_failures", """
        SELECT inbox || '/' || original_name AS name, kind, coalesce(reason, '') AS reason
        FROM failures ORDER BY at DESC NULLS LAST LIMIT $1::int
        """)

    public func queueStatus(failures: Int = 10) throws -> QueueStatus {
        try withConnection { conn in
            var counts: [String: Int] = [:]
            for row in try conn.query(Self.stateCounts) { counts[try row.string("state")] = try row.int("n") }
            let quarantined = try conn.query(Self.quarantinedCount).first.map { try $0.int("n") } ?? 0
            let recent = try conn.query(Self.recentFailures, [failures]).map {
                (name: try $0.string("name"), kind: try $0.string("kind"), reason: try $0.string("reason"))
            }
            return QueueStatus(counts: counts, quarantined: quarantined, recentFailures: recent)
        }
    }
}

extension Database {
    static let ping = Statement("status.ping", "SELECT 1 AS one")

    /// Throws unless the server answers a trivial query.
    public func ping() throws {
        try query(Self.ping)
    }
}
