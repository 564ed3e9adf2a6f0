import Foundation
import Logging
import Pipeline
@testable import Store
import TestSupport
import Testing

@Suite struct SharedDatabaseTests {
    @Test func threeDaemonsSplitABurstAndNoJobRunsTwice() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(migrated: true), prefix: "d3")
        let db = Database(url: setup.url)
        // The burst is queued before the daemons start, so all three race for the same jobs.
        let ingestor = Ingestor(database: db, inboxes: [InboxConfig(name: "drop", path: setup.inbox)],
                                ignoredSuffixes: [], archiveRoot: setup.archive, maxAttempts: 3,
                                logger: Logger(label: "test"))
        let count = 150
        for i in 0..<count {
            let path = setup.inbox + "/burst-\(i).png"
            FileManager.default.createFile(atPath: path, contents: TinyPNG.sample(seed: 77_000 + i))
            let result = try ingestor.ingestWritten(path: path)
            guard case .created = result else { Issue.record("burst-\(i).png not ingested: \(result)"); continue }
        }
        var daemons: [DaemonProcess] = []
        for n in 0..<3 {
            let ownInbox = setup.dir.file("inbox\(n)")
            daemons.append(try setup.start(n, config: try setup.config(n, inbox: ownInbox), delayMS: 20,
                                           runLog: setup.dir.file("runs\(n).log")))
        }
        defer { daemons.forEach { $0.terminate() } }
        let drained = try eventually(timeout: 120, interval: 0.25) { try db.queueStatus().counts["done"] == count }
        #expect(drained, "\(String(describing: try? db.queueStatus().counts))")
        for d in daemons { #expect(d.terminate() == 0) }

        // Every detector run, across the three processes: exactly one per job.
        let runs = (0..<3).map { n in
            ((try? String(contentsOfFile: setup.dir.file("runs\(n).log"), encoding: .utf8)) ?? "")
                .split(separator: "\n").count
        }
        #expect(runs.reduce(0, +) == count, "detector runs per daemon: \(runs)")
        #expect(runs.allSatisfy { $0 > 0 }, "every daemon should have taken a share: \(runs)")
        let row = try #require(try db.query(Statement("d3.check", """
            SELECT count(*) FILTER (WHERE j.attempt = 1) AS first_try, count(DISTINCT p.worker) AS workers,
                   count(p.id) AS provenance
            FROM jobs j JOIN provenance p ON p.job_id = j.id
            """)).first)
        #expect(try row.int("first_try") == count && row.int("workers") == 3 && row.int("provenance") == count)
    }

    /// Three hosts on one database, each with its own archive (not a shared mount): a daemon claims only the jobs
    /// whose bytes it holds. Before, a daemon claimed a job ingested on another host, could not read its bytes, and
    /// retried it until it was discarded.
    @Test func daemonsWithArchivesOfTheirOwnRunOnlyTheirOwnJobs() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(migrated: true), prefix: "d3own")
        let perDaemon = 30
        var daemons: [DaemonProcess] = []
        for n in 0..<3 {
            let ownInbox = setup.dir.file("inbox\(n)")
            try FileManager.default.createDirectory(atPath: ownInbox, withIntermediateDirectories: true)
            daemons.append(try setup.start(n, config: try setup.config(n, inbox: ownInbox, ownArchive: true), delayMS: 20,
                                           runLog: setup.dir.file("runs\(n).log")))
        }
        defer { daemons.forEach { $0.terminate() } }
        #expect(eventually(timeout: 60) { daemons.allSatisfy { $0.log.contains("inbox watched") } })
        // Daemon 0 gets a burst; the others a few each, so they sit idle beside daemon 0's queue.
        for (n, count) in [(0, perDaemon * 2), (1, perDaemon / 2), (2, perDaemon / 2)] {
            for i in 0..<count {
                FileManager.default.createFile(atPath: setup.dir.file("inbox\(n)") + "/img-\(i).png",
                                               contents: TinyPNG.sample(seed: 91_000 + n * 1000 + i))
            }
        }
        let total = perDaemon * 3
        let db = Database(url: setup.url)
        let drained = try eventually(timeout: 120, interval: 0.25) { try db.queueStatus().counts["done"] == total }
        #expect(drained, "\(String(describing: try? db.queueStatus().counts))")
        for d in daemons { #expect(d.terminate() == 0) }

        let runs = (0..<3).map { n in
            ((try? String(contentsOfFile: setup.dir.file("runs\(n).log"), encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        #expect(runs == [perDaemon * 2, perDaemon / 2, perDaemon / 2], "detector runs per daemon: \(runs)")
        let row = try #require(try db.query(Statement("d3own.check", """
            SELECT count(DISTINCT i.archive_id) AS archives, count(*) FILTER (WHERE j.attempt = 1) AS first_try,
                   max(w.workers) AS workers_per_archive
            FROM jobs j JOIN images i ON i.id = j.image_id
            JOIN (SELECT i2.archive_id, count(DISTINCT p.worker) AS workers
                  FROM provenance p JOIN jobs j2 ON j2.id = p.job_id JOIN images i2 ON i2.id = j2.image_id
                  GROUP BY i2.archive_id) w ON w.archive_id = i.archive_id
            """)).first)
        #expect(try row.int("archives") == 3 && row.int("first_try") == total && row.int("workers_per_archive") == 1)
    }
}
