/// Errors from the PostgreSQL store. Each case names what failed and carries enough context to act on.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    /// The server could not be reached or refused the connection.
    case connect(target: String, message: String)
    /// The connection broke while a statement ran; the statement may or may not have taken effect.
    case connectionLost(statement: String, message: String)
    /// The server rejected a statement.
    case query(statement: String, sqlState: String, message: String, detail: String?)
    /// A result column held something the caller could not read.
    case decode(statement: String, column: String, value: String?)
    /// COPY FROM STDIN failed part-way.
    case copy(table: String, message: String)
    /// A lock file could not be opened or locked.
    case lockFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .connect(target, message):
            return "cannot connect to PostgreSQL at \(target): \(message.trimmed) — check that the server runs and the URL is right"
        case let .connectionLost(statement, message):
            return "connection to PostgreSQL lost during '\(statement)': \(message.trimmed) — the operation will be retried"
        case let .query(statement, sqlState, message, detail):
            let extra = detail.map { " (\($0.trimmed))" } ?? ""
            return "statement '\(statement)' failed with SQLSTATE \(sqlState): \(message.trimmed)\(extra)"
        case let .decode(statement, column, value):
            return "statement '\(statement)': cannot read column '\(column)' from value \(value.map { "'\($0)'" } ?? "NULL")"
        case let .copy(table, message):
            return "COPY into \(table) failed: \(message.trimmed)"
        case let .lockFile(path, reason):
            return "cannot lock \(path): \(reason)"
        }
    }

    /// True when retrying later may succeed (the server went away, a serialization conflict, a deadlock).
    public var isTransient: Bool {
        switch self {
        case .connect, .connectionLost: return true
        case let .query(_, sqlState, _, _):
            // 08: connection exceptions, 40001/40P01: serialization failure/deadlock, 57P: operator intervention,
            // 53: insufficient resources.
            return sqlState.hasPrefix("08") || sqlState == "40001" || sqlState == "40P01"
                || sqlState.hasPrefix("57P") || sqlState.hasPrefix("53")
        case .decode, .copy, .lockFile: return false
        }
    }

    /// The SQLSTATE of a server error, if any.
    public var sqlState: String? {
        if case let .query(_, state, _, _) = self { return state }
        return nil
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        while let first = s.first, first.isWhitespace { s = s.dropFirst() }
        return String(s)
    }
}
