import Foundation
@testable import Store
import TestSupport
import Testing

@Suite struct MigratorTests {
    private static let statement = Statement("test.migrations", "SELECT version, checksum FROM schema_migrations ORDER BY version")

    @Test func freshDatabaseGetsEverySchemaObject() throws {
        let url = try TestDatabase.fresh()
        let applied = try Migrator().migrate(url: url)
        #expect(applied == Migration.embedded.map(\.version))
        let conn = try PGConnection(url: url)
        let tables = try conn.query(Statement("test.tables", """
            SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name
            """)).map { try $0.string("table_name") }
        for name in ["images", "image_arrivals", "jobs", "models", "vocabularies", "categories", "provenance",
                     "detections", "detections_for_file", "pending_jobs", "failures", "schema_migrations"] {
            #expect(tables.contains(name), "missing \(name)")
        }
    }

    @Test func rerunIsANoOp() throws {
        let url = try TestDatabase.fresh()
        try Migrator().migrate(url: url)
        let before = try PGConnection(url: url).query(Self.statement).map { try $0.string("checksum") }
        #expect(try Migrator().migrate(url: url).isEmpty)
        let after = try PGConnection(url: url).query(Self.statement).map { try $0.string("checksum") }
        #expect(before == after)
    }

    @Test func concurrentMigratorsApplyEachMigrationOnce() throws {
        let url = try TestDatabase.fresh()
        let results = LockedBox<[Result<[Int], Error>]>([])
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            DispatchQueue.global().async {
                let result = Result { try Migrator().migrate(url: url) }
                results.mutate { $0.append(result) }
                group.leave()
            }
        }
        group.wait()
        let applied = try results.value.map { try $0.get() }
        // Exactly one runner applied the migrations; the others found nothing to do.
        #expect(applied.filter { !$0.isEmpty }.count == 1)
        #expect(try PGConnection(url: url).query(Self.statement).count == Migration.embedded.count)
    }

    @Test func changedChecksumIsRefused() throws {
        let url = try TestDatabase.fresh()
        try Migrator().migrate(url: url)
        var edited = Migration.embedded
        edited[0] = Migration(version: edited[0].version, name: edited[0].name, sql: edited[0].sql + "\n-- edited\n")
        #expect {
            try Migrator(migrations: edited).migrate(url: url)
        } throws: { error in
            guard case MigrationError.checksumMismatch(let version, _, _, _) = error else { return false }
            return version == 1
        }
    }

    @Test func databaseNewerThanBinaryIsRefused() throws {
        let url = try TestDatabase.fresh()
        let newer = Migration.embedded + [Migration(version: 9999, name: "future", sql: "CREATE TABLE future (x int);")]
        try Migrator(migrations: newer).migrate(url: url)
        #expect {
            try Migrator().migrate(url: url)
        } throws: { error in
            guard case MigrationError.databaseNewer(let db, let binary) = error else { return false }
            return db == 9999 && binary == Migration.embedded.last!.version
        }
    }

    @Test func failedMigrationLeavesNothingBehind() throws {
        let url = try TestDatabase.fresh()
        let broken = Migration.embedded + [Migration(version: 9000, name: "broken",
                                                     sql: "CREATE TABLE half (x int); SELECT no_such_function();")]
        #expect(throws: StoreError.self) { try Migrator(migrations: broken).migrate(url: url) }
        let conn = try PGConnection(url: url)
        #expect(try conn.query(Self.statement).count == Migration.embedded.count)
        #expect(try conn.query(Statement("test.half", "SELECT to_regclass('half') IS NULL AS gone")).first?.bool("gone") == true)
    }

    @Test func embeddedMigrationsMatchTheFiles() throws {
        let files = try Migration.load(directory: URL(fileURLWithPath: BuiltProducts.packageRoot + "/migrations"))
        #expect(!files.isEmpty)
        #expect(files == Migration.embedded, "migrations/ changed: run tools/embed-migrations.sh")
    }
}
