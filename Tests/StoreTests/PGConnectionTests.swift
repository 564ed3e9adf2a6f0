import Foundation
@testable import Store
import TestSupport
import Testing

@Suite struct PGConnectionTests {
    @Test func parametersAreNeverSQL() throws {
        let conn = try PGConnection(url: try TestDatabase.fresh())
        let hostile = "x'); DROP TABLE pg_class; --"
        let rows = try conn.query(Statement("test.echo", "SELECT $1::text AS v, $2::int + 1 AS n, $3::text IS NULL AS isnull"),
                                  [hostile, 41, nil])
        #expect(rows.count == 1)
        #expect(try rows[0].string("v") == hostile)
        #expect(try rows[0].int("n") == 42)
        #expect(try rows[0].bool("isnull"))
    }

    /// libpq would cut a C-string parameter at a NUL; the value is refused instead of silently shortened.
    @Test func aNULCharacterIsRefusedNotTruncated() throws {
        let conn = try PGConnection(url: try TestDatabase.fresh())
        try conn.command("CREATE TABLE n (a text)", name: "test.create")
        #expect {
            try conn.query(Statement("test.insert_n", "INSERT INTO n VALUES ($1::text)"), ["a\u{0}b"])
        } throws: { error in
            guard let error = error as? StoreError, case let .query(_, state, message, _) = error else { return false }
            return state == "22021" && message.contains("NUL") && !error.isTransient
        }
        #expect(throws: StoreError.self) { try conn.copy(into: "n", columns: ["a"], rows: [["ok"], ["a\u{0}b"]]) }
        #expect(try conn.query(Statement("test.count_n", "SELECT count(*) AS n FROM n")).first?.int("n") == 0)
    }

    @Test func serverErrorsCarrySQLStateAndStatementName() throws {
        let conn = try PGConnection(url: try TestDatabase.fresh())
        try conn.command("CREATE TABLE u (k int PRIMARY KEY)", name: "test.create")
        let insert = Statement("test.insert_u", "INSERT INTO u VALUES ($1::int)")
        try conn.query(insert, [1])
        #expect {
            try conn.query(insert, [1])
        } throws: { error in
            guard let error = error as? StoreError, case let .query(statement, state, _, _) = error else { return false }
            return statement == "test.insert_u" && state == "23505" && !error.isTransient
        }
    }

    @Test func transactionsRollBackOnError() throws {
        let conn = try PGConnection(url: try TestDatabase.fresh())
        try conn.command("CREATE TABLE t (k int)", name: "test.create")
        let insert = Statement("test.insert_t", "INSERT INTO t VALUES ($1::int)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try conn.transaction { c in
                try c.query(insert, [1])
                throw Boom()
            }
        }
        try conn.transaction { c in try c.query(insert, [2]) }
        let values = try conn.query(Statement("test.select_t", "SELECT k FROM t")).map { try $0.int("k") }
        #expect(values == [2])
    }

    @Test func copyLoadsRowsWithSpecialCharacters() throws {
        let conn = try PGConnection(url: try TestDatabase.fresh())
        try conn.command("CREATE TABLE c (a text, b double precision, n int)", name: "test.create")
        let texts = ["tab\there", "new\nline", "back\\slash", "\\N", "ünïcødé", "carriage\rreturn"]
        try conn.copy(into: "c", columns: ["a", "b", "n"], rows: texts.enumerated().map { [$1, Double($0) + 0.5, nil] })
        let rows = try conn.query(Statement("test.select_c", "SELECT a, b, n FROM c ORDER BY b"))
        #expect(try rows.map { try $0.string("a") } == texts)
        #expect(rows.allSatisfy { $0["n"] == nil })
    }

    @Test func copyFailureIsReportedAndConnectionStaysUsable() throws {
        let conn = try PGConnection(url: try TestDatabase.fresh())
        try conn.command("CREATE TABLE c (n int NOT NULL CHECK (n > 0))", name: "test.create")
        #expect(throws: StoreError.self) { try conn.copy(into: "c", columns: ["n"], rows: [[1], [-1]]) }
        #expect(try conn.query(Statement("test.count", "SELECT count(*) AS n FROM c")).first?.int("n") == 0)
    }

    @Test func listenReceivesNotifications() throws {
        let url = try TestDatabase.fresh()
        let listener = Listener(url: url, channels: ["pipelined_test"])
        #expect(try listener.wait(timeout: 0.1).isEmpty)
        try PGConnection(url: url).query(Statement("test.notify", "SELECT pg_notify('pipelined_test', $1)"), ["hello"])
        let received = try listener.wait(timeout: 5)
        #expect(received.map(\.payload) == ["hello"])
    }

    @Test func poolReconnectsAfterTheServerDropsTheConnection() throws {
        let url = try TestDatabase.fresh()
        let database = Database(url: url)
        let pid = Statement("test.pid", "SELECT pg_backend_pid() AS pid")
        let first = try database.query(pid).first!.int("pid")
        try PGConnection(url: url).query(Statement("test.kill", "SELECT pg_terminate_backend($1::int)"), [first])
        // The pooled connection is dead: the call fails with a transient error, the next one reconnects.
        #expect {
            try database.query(pid)
        } throws: { ($0 as? StoreError)?.isTransient == true }
        let second = try database.query(pid).first!.int("pid")
        #expect(second != first)
    }

    @Test func unreachableServerIsAClearTransientError() {
        #expect {
            _ = try PGConnection(url: "host=/nonexistent-dir port=5432 dbname=x connect_timeout=2")
        } throws: { error in
            guard let error = error as? StoreError, case .connect = error else { return false }
            return error.isTransient && "\(error)".contains("cannot connect")
        }
    }
}
