import Foundation
@testable import Store

/// Throwaway databases on the PostgreSQL server the test command started (`PIPELINED_TEST_DATABASE_URL`).
/// Each test gets its own database, so tests run in parallel without seeing each other's rows.
public enum TestDatabase {
    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String {
            "PIPELINED_TEST_DATABASE_URL is not set: run the tests with `tools/setup.sh test`, which starts a throwaway PostgreSQL server"
        }
    }

    public static var adminURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["PIPELINED_TEST_DATABASE_URL"], !url.isEmpty else {
                throw NotConfigured()
            }
            return url
        }
    }

    private static let create = Statement("test.create_database", "SELECT 1")

    /// Creates an empty database and returns its URL.
    public static func fresh(migrated: Bool = false) throws -> String {
        let admin = try adminURL
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        let conn = try PGConnection(url: admin)
        try conn.command("CREATE DATABASE \(name)", name: "test.create_database")
        let url = with(database: name, in: admin)
        if migrated { try Migrator().migrate(url: url) }
        return url
    }

    /// The keyword-form URL with `dbname` replaced.
    public static func with(database name: String, in url: String) -> String {
        let parts = url.split(separator: " ").filter { !$0.hasPrefix("dbname=") }
        return (parts + ["dbname=\(name)"]).joined(separator: " ")
    }
}
