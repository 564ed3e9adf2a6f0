import Foundation
import Logging

/// Applies `migrations/` forward-only. Each file runs in its own transaction while the runner holds a session
/// advisory lock, so two daemons starting at once apply each migration exactly once (the second waits, then finds
/// nothing to do).
public struct Migrator {
    /// The advisory lock key (arbitrary, fixed: "pipe" in ASCII).
    static let lockKey = 0x7069_7065

    public let migrations: [Migration]
    private let logger: Logger

    public init(migrations: [Migration] = Migration.embedded, logger: Logger = Logger(label: "pipelined.store")) {
        precondition(migrations == migrations.sorted { $0.version < $1.version }, "migrations must be sorted")
        self.migrations = migrations
        self.logger = logger
    }

    static let lock = Statement("migrations.lock", "SELECT pg_advisory_lock($1::bigint)")
    static let unlock = Statement("migrations.unlock", "SELECT pg_advisory_unlock($1::bigint)")
    static let applied = Statement("migrations.applied",
                                   "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    static let record = Statement("migrations.record",
                                  "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1::int, $2, $3)")

    /// Brings the database up to date. Returns the versions applied by this call (empty when already current).
    @discardableResult
    public func migrate(url: String) throws -> [Int] {
        let conn = try PGConnection(url: url)
        try conn.query(Self.lock, [Self.lockKey])
        defer { _ = try? conn.query(Self.unlock, [Self.lockKey]) }
        try conn.command("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """, name: "migrations.bootstrap")

        let applied = try conn.query(Self.applied).map {
            (version: try $0.int("version"), name: try $0.string("name"), checksum: try $0.string("checksum"))
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        let binaryVersion = migrations.last?.version ?? 0
        for row in applied {
            guard let migration = known[row.version] else {
                if row.version > binaryVersion {
                    throw MigrationError.databaseNewer(databaseVersion: applied.last?.version ?? row.version,
                                                       binaryVersion: binaryVersion)
                }
                throw MigrationError.unknownApplied(version: row.version, name: row.name)
            }
            if migration.checksum != row.checksum {
                throw MigrationError.checksumMismatch(version: row.version, name: row.name,
                                                      recorded: row.checksum, expected: migration.checksum)
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        let pending = migrations.filter { !appliedVersions.contains($0.version) }
        if let first = pending.first, let last = applied.last, first.version < last.version {
            throw MigrationError.outOfOrder(pending: first.version, applied: last.version)
        }
        for migration in pending {
            try conn.transaction { conn in
                try conn.command(migration.sql, name: "migration.\(migration.version)_\(migration.name)")
                try conn.query(Self.record, [migration.version, migration.name, migration.checksum])
            }
            logger.info("applied migration", metadata: ["migration.version": "\(migration.version)",
                                                        "migration.name": "\(migration.name)"])
        }
        return pending.map(\.version)
    }
}
