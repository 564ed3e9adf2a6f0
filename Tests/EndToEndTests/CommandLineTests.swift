import Foundation
import Store
import TestSupport
import Testing

/// The shipped `pipelined` binary (no stand-in detector anywhere).
@Suite struct CommandLineTests {
    func run(_ arguments: [String], asUser user: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", user, "--", BuiltProducts.path("pipelined")] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: BuiltProducts.path("pipelined"))
            process.arguments = arguments
        }
        let dir = TemporaryDirectory("cli-out")
        let outPath = dir.file("out")
        FileManager.default.createFile(atPath: outPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardOutput = out
        process.standardError = out
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    }

    @Test func withoutAModelTheDaemonSaysSoAndLeavesJobsQueued() throws {
        // The embedded default: no database URL, a private cluster in the state directory.
        let dir = TemporaryDirectory("nomodel")
        let state = dir.file("s")
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"),
                                       arguments: ["run", "--state-dir", state, "--log-level", "info"],
                                       logPath: dir.file("log"))
        defer { daemon.terminate() }
        #expect(eventually(timeout: 60) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
        #expect(daemon.log.contains("no model configured"))
        FileManager.default.createFile(atPath: state + "/inbox/cat.png", contents: TinyPNG.sample(seed: 1))
        #expect(eventually(timeout: 10) { daemon.log.contains("image ingested") })
        let url = "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined"
        let pending = try Database(url: url).query(Statement("cli.pending", "SELECT original_name, state FROM pending_jobs"))
        #expect(pending.count == 1 && pending.first?["state"] == "available")
        #expect(daemon.terminate() == 0)
        #expect(daemon.log.contains("embedded PostgreSQL stopped"))
        #expect(throws: StoreError.self) { _ = try PGConnection(url: url) }
    }

    @Test func ingestAndStatusAgainstAConfiguredDatabase() throws {
        let url = try TestDatabase.fresh()
        let dir = TemporaryDirectory("cli")
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox + "/sub", withIntermediateDirectories: true)
        for i in 0..<3 { FileManager.default.createFile(atPath: inbox + "/sub/\(i).png", contents: TinyPNG.sample(seed: 500 + i)) }
        FileManager.default.createFile(atPath: inbox + "/dup.png", contents: TinyPNG.sample(seed: 500))
        let common = ["--database-url", url, "--state-dir", dir.file("state"), "--inbox", inbox]
        let ingest = try run(["ingest"] + common + [inbox])
        #expect(ingest.status == 0, "\(ingest.output)")
        #expect(ingest.output.contains("ingested 3 new, 1 duplicate, 0 skipped"), "\(ingest.output)")
        let status = try run(["status"] + common)
        #expect(status.status == 0)
        #expect(status.output.contains("available  3"), "\(status.output)")
    }

    @Test func migrateRefusesADatabaseNewerThanTheBinary() throws {
        let url = try TestDatabase.fresh(migrated: true)
        try PGConnection(url: url).query(Statement("cli.future", """
            INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')
            """))
        let result = try run(["migrate", "--database-url", url])
        #expect(result.status != 0)
        #expect(result.output.contains("upgrade pipelined"), "\(result.output)")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to switch to an ordinary user"))
    func embeddedDefaultWorksForAnOrdinaryUser() throws {
        let dir = TemporaryDirectory("user")
        let state = dir.file("s")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        _ = try run(["--help"])  // the binary is reachable
        let chown = Process()
        chown.executableURL = URL(fileURLWithPath: "/bin/chown")
        chown.arguments = ["nobody", state]
        try chown.run()
        chown.waitUntilExit()
        let result = try run(["migrate", "--state-dir", state], asUser: "nobody")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("schema is at version"))
        var st = stat()
        #expect(stat(state + "/postgres/data/PG_VERSION", &st) == 0 && st.st_uid == getpwnam("nobody").pointee.pw_uid)
    }
}
