import Foundation
import Logging
import Pipeline
@testable import Store
import TestSupport
import Testing

/// A crash is charged to the job that caused it, not to every job that happened to be in flight with it.
@Suite struct CrashAttributionTests {
    /// One poison image (the harness's detector traps on images 13 pixels wide, as a numeric trap in a real one
    /// would) queued with 20 good ones. The daemon is restarted after each crash as systemd would. Before, the good
    /// images in flight with the poison were charged an attempt per crash, waited out 300 s leases, and were
    /// discarded after 5 attempts with "lease expired" as the only reason.
    @Test func aPoisonImageIsQuarantinedAndTheGoodOnesFinish() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(migrated: true), prefix: "poison")
        let db = Database(url: setup.url)
        let ingestor = Ingestor(database: db, inboxes: [InboxConfig(name: "drop", path: setup.inbox)],
                                ignoredSuffixes: [], archiveRoot: setup.archive, maxAttempts: 5, logger: Logger(label: "test"))
        // Queued before the daemon starts, poison first, so it is claimed together with seven good ones.
        FileManager.default.createFile(atPath: setup.inbox + "/poison.png", contents: TinyPNG.sample(seed: 13, width: 13, height: 5))
        _ = try ingestor.ingestWritten(path: setup.inbox + "/poison.png")
        for i in 0..<20 {
            let path = setup.inbox + "/good-\(i).png"
            FileManager.default.createFile(atPath: path, contents: TinyPNG.sample(seed: 1300 + i))
            _ = try ingestor.ingestWritten(path: path)
        }
        let config = try setup.config(lease: 300)
        let started = Date()
        var crashes: [Int32] = []
        var daemon = try setup.start(config: config, delayMS: 50, crashOnWidth: 13)
        defer { daemon.terminate() }
        func settled() throws -> Bool {
            let status = try db.queueStatus()
            return status.counts["done"] == 20 && status.quarantined == 1
        }
        while try !settled() && Date().timeIntervalSince(started) < 150 && crashes.count < 5 {
            if daemon.isRunning { Thread.sleep(forTimeInterval: 0.2); continue }
            crashes.append(daemon.process.terminationStatus)
            daemon = try setup.start(config: config, delayMS: 50, crashOnWidth: 13)   // systemd's Restart=on-failure
        }
        #expect(try settled(), "\(String(describing: try? db.queueStatus().counts)) after crashes \(crashes): \(daemon.log.suffix(3000))")
        // Once with seven good images in flight, once alone: then it is known to be the cause.
        #expect(crashes == [SIGILL, SIGILL], "exit statuses \(crashes)")
        #expect(Date().timeIntervalSince(started) < 120, "jobs waited for leases to expire")

        let poison = try #require(try db.query(Statement("poison.reason", """
            SELECT reason FROM failures WHERE original_name = 'poison.png'
            """)).first)
        let reason = try poison.string("reason")
        #expect(reason.contains("crashed the daemon (signal 4, SIGILL) in stage detect"), "\(reason)")
        let attempts = try db.query(Statement("poison.good", """
            SELECT i.original_name, j.attempt, j.state FROM jobs j JOIN images i ON i.id = j.image_id
            WHERE i.original_name LIKE 'good-%'
            """))
        #expect(attempts.count == 20)
        for row in attempts {
            let (name, state, attempt) = (try row.string("original_name"), try row.string("state"), try row.int("attempt"))
            #expect(state == "done" && attempt <= 2, "\(name): \(state) after \(attempt) attempts")
        }
        // The quarantined bytes are kept as evidence.
        #expect(try FileManager.default.contentsOfDirectory(atPath: setup.quarantine).contains { $0.hasSuffix("-poison.png") })
        #expect(daemon.terminate() == 0)
    }

    /// A fatal signal sent by another process (systemd's watchdog sends SIGABRT) is nobody's crash: the image that
    /// was running is returned, not quarantined, and finishes after the restart.
    @Test func aSignalFromOutsideIsNotAnImagesCrash() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(migrated: true), prefix: "abrt")
        let db = Database(url: setup.url)
        let config = try setup.config(lease: 300)
        var daemon = try setup.start(config: config, delayMS: 4000)
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") })
        FileManager.default.createFile(atPath: setup.inbox + "/slow.png", contents: TinyPNG.sample(seed: 606))
        #expect(try eventually(timeout: 20) { try db.queueStatus().counts["running"] == 1 })
        Thread.sleep(forTimeInterval: 1)   // inside the detector's 4 s
        daemon.signal(SIGABRT)
        _ = daemon.wait(timeout: 20)
        #expect(!daemon.isRunning)
        daemon = try setup.start(config: config)
        #expect(try eventually(timeout: 30) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let errors = try #require(try db.query(Statement("abrt.job", "SELECT errors::text AS e FROM jobs")).first).string("e")
        #expect(errors.contains("without a crash signal of its own"), "\(errors)")
        #expect(try db.queueStatus().quarantined == 0)
    }
}
