import Foundation
import Store
import TestSupport
import Testing

@Suite struct ResilienceTests {
    @Test func theDaemonOutlivesItsDatabaseGoingAway() throws {
        // A server of its own, so it can be stopped without disturbing other tests.
        let pg = TemporaryDirectory("gone")
        let cluster = EmbeddedCluster(directory: URL(fileURLWithPath: pg.file("pg")), durable: false)
        let url = try cluster.start()
        let setup = try HarnessSetup(url: url, prefix: "gone")
        let daemon = try setup.start()
        defer { daemon.terminate() }
        let db = Database(url: url)
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") })
        for i in 0..<5 { FileManager.default.createFile(atPath: setup.inbox + "/a\(i).png", contents: TinyPNG.sample(seed: 900 + i)) }
        #expect(try eventually(timeout: 30) { try db.queueStatus().counts["done"] == 5 })

        cluster.stop(force: true)
        for i in 0..<5 { FileManager.default.createFile(atPath: setup.inbox + "/b\(i).png", contents: TinyPNG.sample(seed: 950 + i)) }
        Thread.sleep(forTimeInterval: 2)
        #expect(daemon.isRunning, "the daemon died with its database: \(daemon.log.suffix(2000))")
        // Nothing is lost meanwhile: the files wait in the inbox.
        let waiting = try FileManager.default.contentsOfDirectory(atPath: setup.inbox).filter { $0.hasPrefix("b") }
        #expect(waiting.count == 5)
        #expect(daemon.log.contains("database unavailable") || daemon.log.contains("cannot claim jobs"))

        try cluster.start()
        defer { cluster.stop(force: true) }
        let recovered = eventually(timeout: 60, interval: 0.25) {
            (try? Database(url: url).queueStatus().counts["done"]) == 10
        }
        #expect(recovered, "\(daemon.log.suffix(3000))")
        #expect(daemon.terminate() == 0)
    }

    @Test func sighupAddsAnInboxWithoutARestart() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "hup")
        let config = try setup.config()
        let daemon = try setup.start(config: config)
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") })
        let second = setup.dir.file("second")
        try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "[scan]", with: """
            [[inbox]]
            name = "second"
            path = "\(second)"

            [scan]
            """).write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(eventually(timeout: 10) { daemon.log.contains("configuration reloaded") }, "\(daemon.log)")
        FileManager.default.createFile(atPath: second + "/late.png", contents: TinyPNG.sample(seed: 4242))
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 20) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let inbox = try db.query(Statement("hup.inbox", "SELECT inbox FROM images")).first?["inbox"]
        #expect(inbox == "second")
    }
}
