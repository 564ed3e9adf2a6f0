/// Why the migration runner refused to go on.
public enum MigrationError: Error, CustomStringConvertible, Sendable {
    case databaseNewer(databaseVersion: Int, binaryVersion: Int)
    case checksumMismatch(version: Int, name: String, recorded: String, expected: String)
    case unknownApplied(version: Int, name: String)
    case outOfOrder(pending: Int, applied: Int)

    public var description: String {
        switch self {
        case let .databaseNewer(db, binary):
            return "the database schema is at version \(db) but this binary knows only up to \(binary): upgrade pipelined before running it against this database"
        case let .checksumMismatch(version, name, recorded, expected):
            return "migration \(version) (\(name)) was applied with checksum \(recorded.prefix(12))… but the file now has \(expected.prefix(12))…: applied migrations must never be edited — add a new migration instead"
        case let .unknownApplied(version, name):
            return "the database has migration \(version) (\(name)) that this binary does not know"
        case let .outOfOrder(pending, applied):
            return "migration \(pending) is pending but the later migration \(applied) is already applied: migrations must be added in order"
        }
    }
}
