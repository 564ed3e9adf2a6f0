import CLibPQ
import Foundation

/// One libpq connection. Not thread-safe: a connection is used by one caller at a time (see `Database`).
///
/// Every statement is prepared once per connection under its `Statement.name` and executed with parameters; no
/// SQL is ever built from values.
final class PGConnection {
    private var conn: OpaquePointer?
    private var prepared: Set<String> = []
    let target: String

    init(url: String) throws {
        target = PGConnection.redacted(url)
        conn = PQconnectdb(url)
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(conn)
            self.conn = nil
            throw StoreError.connect(target: target, message: message)
        }
        // Notices (e.g. "relation already exists, skipping") are not errors; keep them out of stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { PQfinish(conn) }

    /// False once the server went away; such a connection is discarded by the pool.
    var isHealthy: Bool { conn.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// Runs a named statement with parameters and returns its rows.
    @discardableResult
    func query(_ statement: Statement, _ params: [(any PGBindable)?] = []) throws -> [PGRow] {
        let conn = try live(statement.name)
        if !prepared.contains(statement.name) {
            let result = PQprepare(conn, statement.name, statement.sql, 0, nil)
            defer { PQclear(result) }
            try check(result, statement.name)
            prepared.insert(statement.name)
        }
        let texts = params.map { $0?.pgText }
        // libpq takes parameters as C strings: a NUL would silently cut one short ("a\0b" would match "a").
        if let k = texts.firstIndex(where: { $0?.utf8.contains(0) ?? false }) {
            throw StoreError.query(statement: statement.name, sqlState: "22021",
                                   message: "parameter $\(k + 1) contains a NUL character, which PostgreSQL text cannot hold", detail: nil)
        }
        let result = withCStrings(texts) { pointers in
            PQexecPrepared(conn, statement.name, Int32(pointers.count), pointers, nil, nil, 0)
        }
        defer { PQclear(result) }
        try check(result, statement.name)
        return rows(of: result, statement: statement.name)
    }

    /// Runs a parameterless utility command (BEGIN, COMMIT, LISTEN …) that cannot be prepared.
    func command(_ sql: String, name: String) throws {
        let conn = try live(name)
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result, name)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func transaction<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try command("BEGIN", name: "transaction.begin")
        do {
            let value = try body(self)
            try command("COMMIT", name: "transaction.commit")
            return value
        } catch {
            if isHealthy { try? command("ROLLBACK", name: "transaction.rollback") }
            throw error
        }
    }

    /// Bulk-loads rows with `COPY table (columns) FROM STDIN` in text format.
    func copy(into table: String, columns: [String], rows: [[(any PGBindable)?]]) throws {
        // The data is sent as a C string: a NUL would cut it short mid-row.
        if rows.contains(where: { $0.contains { $0?.pgText.utf8.contains(0) ?? false } }) {
            throw StoreError.copy(table: table, message: "a value contains a NUL character, which PostgreSQL text cannot hold")
        }
        let conn = try live("copy.\(table)")
        let sql = "COPY \(table) (\(columns.joined(separator: ", "))) FROM STDIN"
        let start = PQexec(conn, sql)
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            try check(start, "copy.\(table)")
            throw StoreError.copy(table: table, message: "server did not enter COPY mode")
        }
        PQclear(start)
        var buffer = ""
        for row in rows {
            precondition(row.count == columns.count, "COPY row width \(row.count) != \(columns.count) columns")
            buffer += row.map { $0.map { PGConnection.copyEscape($0.pgText) } ?? "\\N" }.joined(separator: "\t")
            buffer += "\n"
        }
        let sent = buffer.withCString { PQputCopyData(conn, $0, Int32(strlen($0))) }
        let ended = PQputCopyEnd(conn, sent == 1 ? nil : "client failed to send data")
        if sent != 1 || ended != 1 {
            throw StoreError.copy(table: table, message: String(cString: PQerrorMessage(conn)))
        }
        // COPY reports its outcome in the results that follow; drain them all.
        var failure: StoreError?
        while let result = PQgetResult(conn) {
            if failure == nil {
                do { try check(result, "copy.\(table)") } catch let error as StoreError { failure = error }
            }
            PQclear(result)
        }
        if let failure { throw failure }
    }

    /// The socket, for waiting on notifications.
    var socket: Int32 { conn.map { PQsocket($0) } ?? -1 }

    /// Reads what the server sent and returns any notifications received.
    func drainNotifications() throws -> [(channel: String, payload: String)] {
        let conn = try live("listen.consume")
        if PQconsumeInput(conn) == 0 {
            throw StoreError.connectionLost(statement: "listen.consume", message: String(cString: PQerrorMessage(conn)))
        }
        var out: [(String, String)] = []
        while let notify = PQnotifies(conn) {
            out.append((String(cString: notify.pointee.relname), String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return out
    }

    // MARK: - Helpers

    private func live(_ name: String) throws -> OpaquePointer {
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            throw StoreError.connectionLost(statement: name, message: "connection is closed")
        }
        return conn
    }

    private func check(_ result: OpaquePointer?, _ name: String) throws {
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        switch status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COPY_IN, PGRES_EMPTY_QUERY:
            return
        default:
            let message = result.map { String(cString: PQresultErrorMessage($0)) } ?? ""
            let fallback = conn.map { String(cString: PQerrorMessage($0)) } ?? "no connection"
            if !isHealthy {
                prepared.removeAll()
                throw StoreError.connectionLost(statement: name, message: message.isEmpty ? fallback : message)
            }
            let state = result.flatMap { field($0, CPQ_DIAG_SQLSTATE) } ?? "XX000"
            let primary = result.flatMap { field($0, CPQ_DIAG_MESSAGE_PRIMARY) } ?? (message.isEmpty ? fallback : message)
            let detail = result.flatMap { field($0, CPQ_DIAG_MESSAGE_DETAIL) }
            throw StoreError.query(statement: name, sqlState: state, message: primary, detail: detail)
        }
    }

    private func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        guard let pointer = PQresultErrorField(result, code) else { return nil }
        return String(cString: pointer)
    }

    private func rows(of result: OpaquePointer?, statement: String) -> [PGRow] {
        guard let result, PQresultStatus(result) == PGRES_TUPLES_OK else { return [] }
        let nFields = PQnfields(result)
        var columns: [String: Int] = [:]
        for f in 0..<nFields { columns[String(cString: PQfname(result, f))] = Int(f) }
        var out: [PGRow] = []
        let nRows = PQntuples(result)
        out.reserveCapacity(Int(nRows))
        for r in 0..<nRows {
            var values: [String?] = []
            values.reserveCapacity(Int(nFields))
            for f in 0..<nFields {
                values.append(PQgetisnull(result, r, f) == 1 ? nil : String(cString: PQgetvalue(result, r, f)))
            }
            out.append(PGRow(statement: statement, columns: columns, values: values))
        }
        return out
    }

    private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        let owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
        defer { owned.forEach { free($0) } }
        return body(owned.map { $0.map { UnsafePointer($0) } })
    }

    static func copyEscape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// The URL with any password removed, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}
