import Foundation
@testable import Store
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

    /// Hostile inbox entries cost nothing to anyone else: a FIFO moved in (it used to block the ingest thread in
    /// open(2), stopping all intake and SIGTERM), a symbolic link to /etc/passwd, a socket and a hard link; the good
    /// files after them are processed, SIGTERM is prompt, and each entry is reported once.
    @Test func hostileInboxEntriesNeverStopIntake() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "hostile")
        let daemon = try setup.start()
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") })
        let fifo = setup.dir.file("f.jpg")
        #expect(mkfifo(fifo, 0o644) == 0 && rename(fifo, setup.inbox + "/f.jpg") == 0)
        #expect(symlink("/etc/passwd", setup.inbox + "/passwd.jpg") == 0)
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(sock) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array((setup.inbox + "/s.jpg").utf8)) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let outside = setup.dir.file("o.png")
        FileManager.default.createFile(atPath: outside, contents: TinyPNG.sample(seed: 4711))
        #expect(link(outside, setup.inbox + "/h.png") == 0)
        for i in 0..<5 { FileManager.default.createFile(atPath: setup.inbox + "/good\(i).png", contents: TinyPNG.sample(seed: 4800 + i)) }
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 30) { try db.queueStatus().counts["done"] == 6 }, "\(daemon.log.suffix(3000))")
        let refused = try db.query(Statement("hostile.refused", "SELECT original_name, kind FROM failures ORDER BY 1"))
        #expect(try refused.map { "\(try $0.string("original_name")) \(try $0.string("kind"))" }
                == ["f.jpg refused fifo", "passwd.jpg refused symlink", "s.jpg refused socket"])
        #expect(!daemon.log.contains("root:x:"))
        // A periodic scan (every 3 s here) finds the entries again and says nothing new.
        Thread.sleep(forTimeInterval: 3.5)
        #expect(daemon.log.components(separatedBy: "inbox entry refused").count - 1 == 3, "\(daemon.log)")
        let started = Date()
        #expect(daemon.terminate(timeout: 20) == 0)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// A writer that pauses longer than settle_seconds and than a periodic scan: its file is taken whole once it
    /// closes it. (It used to be ingested half-written, quarantined as truncated and unlinked under the writer.)
    @Test func aStalledWriterHasItsFileIngestedWhole() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "stall")
        let daemon = try setup.start()
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") })
        let png = TinyPNG.sample(seed: 5150, width: 200, height: 150)
        let path = setup.inbox + "/slow.png"
        // Created and opened in one call, so the pause is the only story here (an empty file's first close is
        // IngestorTests.anEmptyFileIsLeftForItsWriterUntilItSettles).
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        let writer = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try writer.write(contentsOf: png.prefix(png.count / 2))
        Thread.sleep(forTimeInterval: 4.5)   // settle 1 s, periodic scan every 3 s
        #expect(FileManager.default.fileExists(atPath: path), "the half-written file was taken: \(daemon.log.suffix(2000))")
        try writer.write(contentsOf: png.suffix(from: png.count / 2))
        try writer.close()
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 20) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let size = try db.query(Statement("stall.size", "SELECT byte_size, status FROM images")).first
        #expect(try size?.int("byte_size") == png.count && size?.string("status") == "decoded")
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
        #expect(daemon.log.contains("needs_restart=none"), "adding a plain inbox needs no restart: \(daemon.log.suffix(1500))")
        FileManager.default.createFile(atPath: second + "/late.png", contents: TinyPNG.sample(seed: 4242))
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 20) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let inbox = try db.query(Statement("hup.inbox", "SELECT inbox FROM images")).first?["inbox"]
        #expect(inbox == "second")
    }

    /// A setting only a restart can apply (here the database URL, pointed at nothing) changed on SIGHUP: the reload
    /// names it as needing a restart and the daemon keeps working with the running one.
    @Test func sighupLogsARestartOnlySettingAndKeepsTheRunningOne() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "hupr")
        let config = try setup.config()
        let daemon = try setup.start(config: config)
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") })
        let text = try String(contentsOfFile: config, encoding: .utf8)
        let moved = text.replacingOccurrences(of: "url = \"\(setup.url)\"", with: "url = \"host=/nonexistent dbname=nothing\"")
        #expect(moved != text)
        try moved.write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(eventually(timeout: 10) { daemon.log.contains("configuration reloaded") }, "\(daemon.log)")
        let reload = daemon.log.split(separator: "\n").first { $0.contains("configuration reloaded") }.map(String.init) ?? ""
        #expect(reload.contains("database.url"), "\(reload)")
        FileManager.default.createFile(atPath: setup.inbox + "/after-hup.png", contents: TinyPNG.sample(seed: 77))
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 20) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
    }
}

