import Foundation
import Logging
import Pipeline
import Store
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
            _ = try ingestor.ingest(path: path)
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
}
