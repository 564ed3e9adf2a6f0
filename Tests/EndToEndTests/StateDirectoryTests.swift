import Foundation
import Store
import TestSupport
import Testing

/// One daemon per state directory, and the embedded cluster stopped by its last user on every exit path.
@Suite struct StateDirectoryTests {
    static func daemon(_ state: String, log: String, environment: [String: String] = ["PIPELINED_MODEL": "none"]) throws -> DaemonProcess {
        try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--state-dir", state],
                          logPath: log, environment: environment)
    }

    static func postmasterRuns(_ state: String) -> Bool {
        FileManager.default.fileExists(atPath: state + "/postgres/data/postmaster.pid")
    }

    /// A second daemon on the same state directory used to adopt the first one's database and stop it on its way out.
    @Test func aSecondDaemonIsRefusedWhileTheFirstKeepsWorking() throws {
        let dir = TemporaryDirectory("lock")
        let state = dir.file("s")
        let first = try Self.daemon(state, log: dir.file("first.log"))
        defer { first.terminate() }
        #expect(eventually(timeout: 60) { first.log.contains("inbox watched") }, "\(first.log)")

        let second = try Self.daemon(state, log: dir.file("second.log"))
        let status = second.wait(timeout: 30)
        #expect(status != nil && status != 0, "the second daemon was not refused")
        #expect(second.log.contains("state directory \(state) in use by pid \(first.pid)"), "\(second.log)")

        // A read-only command shares the running cluster and leaves it running.
        let counts = try runPipelined(["status", "--state-dir", state])
        #expect(counts.status == 0, "\(counts.output)")
        FileManager.default.createFile(atPath: state + "/inbox/after.png", contents: TinyPNG.sample(seed: 31))
        #expect(eventually(timeout: 20) { first.log.contains("image ingested") }, "\(first.log)")
        let url = "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined"
        #expect(try Database(url: url).queueStatus().counts["available"] == 1)
        #expect(first.isRunning)
        #expect(first.terminate() == 0)
        #expect(!Self.postmasterRuns(state), "the daemon's cluster outlived it")
    }

    /// kill -9 of the embedded postmaster: the daemon restarts the cluster and goes on taking files in.
    @Test func aKilledPostmasterIsRestarted() throws {
        let dir = TemporaryDirectory("pgkill")
        let state = dir.file("s")
        let daemon = try Self.daemon(state, log: dir.file("log"))
        defer { daemon.terminate() }
        #expect(eventually(timeout: 60) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
        let pidText = try String(contentsOfFile: state + "/postgres/data/postmaster.pid", encoding: .utf8)
        let postmaster = try #require(pidText.split(separator: "\n").first.flatMap { Int32($0) })
        #expect(kill(postmaster, SIGKILL) == 0)
        FileManager.default.createFile(atPath: state + "/inbox/during.png", contents: TinyPNG.sample(seed: 77))
        #expect(eventually(timeout: 60) { daemon.log.contains("embedded PostgreSQL restarted") }, "\(daemon.log)")
        let url = "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined"
        #expect(eventually(timeout: 60) { (try? Database(url: url).queueStatus().counts["available"]) == 1 },
                "\(daemon.log.suffix(3000))")
        #expect(daemon.isRunning)
        #expect(daemon.terminate() == 0)
        #expect(!Self.postmasterRuns(state))
    }

    /// As root the embedded cluster runs as `postgres`, which cannot enter a state directory under a private (0700)
    /// parent: the error says so instead of passing on initdb's bare "Permission denied".
    @Test(.enabled(if: geteuid() == 0, "only root hands the cluster to the postgres user"))
    func aStateDirectoryThePostgresUserCannotReachIsNamed() throws {
        let dir = TemporaryDirectory("private")
        let parent = dir.file("private")
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        chmod(parent, 0o700)
        let result = try runPipelined(["migrate", "--state-dir", parent + "/state"])
        #expect(result.status != 0 && result.output.contains("cannot reach") && result.output.contains("chmod o+x"),
                "\(result.output)")
    }

    /// A start that fails after the embedded cluster came up (here: a model file that does not exist) stops the
    /// cluster again instead of leaving a postmaster behind.
    @Test func aFailedStartStopsTheClusterItStarted() throws {
        let dir = TemporaryDirectory("failstart")
        let state = dir.file("s")
        let daemon = try Self.daemon(state, log: dir.file("log"), environment: ["PIPELINED_MODEL": dir.file("missing.pth")])
        let status = daemon.wait(timeout: 90)
        #expect(status == 1, "\(daemon.log)")
        #expect(daemon.log.contains("embedded PostgreSQL started"), "\(daemon.log)")
        #expect(!Self.postmasterRuns(state), "a postmaster was left running: \(daemon.log)")
    }
}
