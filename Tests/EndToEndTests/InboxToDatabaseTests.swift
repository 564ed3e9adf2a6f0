import Foundation
@testable import Store
import TestSupport
import Testing

/// The daemon end to end against a real PostgreSQL: inotify, ingest, decode, the (test-double) detector, record.
@Suite struct InboxToDatabaseTests {
    /// Checks the state the workload must end in, whatever happened on the way.
    static func verifyFinalState(_ setup: HarnessSetup, _ workload: Workload) throws {
        let db = Database(url: setup.url)
        let good = workload.goodSHAs, broken = workload.brokenSHAs

        // Nothing lost: every file name is an arrival, and the inbox is empty.
        let arrivals = try db.query(Statement("e2e.arrivals", """
            SELECT a.original_name, i.sha256 FROM image_arrivals a JOIN images i ON i.id = a.image_id
            """))
        var arrivalSHA: [String: String] = [:]
        for row in arrivals { arrivalSHA[try row.string("original_name")] = try row.string("sha256") }
        #expect(arrivals.count == workload.files.count, "arrivals \(arrivals.count) != files \(workload.files.count)")
        for file in workload.files where arrivalSHA[file.name] != file.sha256 {
            Issue.record("\(file.name): arrival \(arrivalSHA[file.name] ?? "missing"), bytes \(file.sha256)")
        }
        let left = (FileManager.default.enumerator(atPath: setup.inbox)?.allObjects as? [String]) ?? []
        #expect(left.isEmpty, "left in the inbox: \(left.prefix(5))")

        // Duplicates collapse: one image and one job per distinct content.
        let images = try db.query(Statement("e2e.images", """
            SELECT i.sha256, i.status, i.archive_path, i.quarantine_path, i.quarantine_reason, j.state, j.attempt,
                   (SELECT count(*) FROM provenance p WHERE p.job_id = j.id) AS provenance,
                   (SELECT count(*) FROM detections d WHERE d.image_id = i.id) AS detections
            FROM images i JOIN jobs j ON j.image_id = i.id
            """))
        #expect(images.count == good.count + broken.count)
        for row in images {
            let sha = try row.string("sha256")
            if good.contains(sha) {
                // Every good image: exactly one job, done, with one set of results, its bytes in the archive.
                let ok = try row.string("state") == "done" && row.string("status") == "decoded"
                    && row.int("provenance") == 1 && row.int("detections") == 1
                if !ok { Issue.record("good image \(sha.prefix(12)): \(try row.string("state"))/\(try row.string("status")) provenance \(try row.int("provenance")) detections \(try row.int("detections"))") }
                let archived = FileManager.default.contents(atPath: setup.archive + "/" + (try row.string("archive_path")))
                #expect(archived.map { workload.files.first { $0.sha256 == sha }?.bytes == $0 } == true)
            } else {
                #expect(broken.contains(sha), "unexpected image \(sha)")
                // Every broken one: quarantined with its reason, the evidence kept, the job discarded.
                let ok = try row.string("state") == "discarded" && row.string("status") == "quarantined"
                    && !(row.string("quarantine_reason")).isEmpty && row.int("detections") == 0
                if !ok { Issue.record("broken image \(sha.prefix(12)): \(try row.string("state"))/\(try row.string("status"))") }
                let evidence = setup.quarantine + "/" + (try row.string("quarantine_path"))
                #expect(FileManager.default.fileExists(atPath: evidence), "missing evidence \(evidence)")
            }
        }
    }

    @Test func burstFromSeveralWritersEndsInTheRightState() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh())
        let daemon = try setup.start()
        defer { daemon.terminate() }
        let db = Database(url: setup.url)
        // The daemon migrates the fresh database; wait for its watcher before writing.
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
        let workload = Workload.standard(seed: 1)
        workload.write(into: setup.inbox, writers: 4)
        let settled = try eventually(timeout: 120, interval: 0.25) {
            let status = try db.queueStatus()
            return status.counts["done", default: 0] + status.counts["discarded", default: 0]
                == workload.goodSHAs.count + workload.brokenSHAs.count
        }
        #expect(settled, "queue did not drain: \(String(describing: try? db.queueStatus().counts))\n\(daemon.log.suffix(3000))")
        try Self.verifyFinalState(setup, workload)
        #expect(daemon.terminate() == 0)
        try checkReadmeQuery(setup, workload)
    }

    @Test func killNineMidRunEndsInTheSameState() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "k9")
        var daemon = try setup.start(delayMS: 15)
        let db = Database(url: setup.url)
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") })
        let workload = Workload.standard(seed: 2)
        let killed = LockedBox(false)
        let writers = Thread {
            workload.write(into: setup.inbox, writers: 4)
        }
        writers.start()
        // Kill once some jobs are done and others are in flight.
        #expect(eventually(timeout: 60, interval: 0.05) { ((try? db.queueStatus())?.counts["done"] ?? 0) >= 30 })
        daemon.kill9()
        killed.mutate { $0 = true }
        let doneAtKill = try db.queueStatus().counts["done"] ?? 0
        #expect(doneAtKill < workload.goodSHAs.count, "the kill came too late to test anything")
        daemon = try setup.start(delayMS: 15)
        defer { daemon.terminate() }
        let settled = try eventually(timeout: 150, interval: 0.25) {
            let status = try db.queueStatus()
            return status.counts["done", default: 0] + status.counts["discarded", default: 0]
                == workload.goodSHAs.count + workload.brokenSHAs.count
        }
        #expect(settled, "queue did not drain after restart: \(String(describing: try? db.queueStatus().counts))\n\(daemon.log.suffix(3000))")
        // Give late writers' files a moment, then check the whole state.
        _ = eventually(timeout: 10) { ((FileManager.default.enumerator(atPath: setup.inbox)?.allObjects.count) ?? 1) == 0 }
        try Self.verifyFinalState(setup, workload)
        #expect(killed.value)
    }

    /// The README's "results for a file" query, run as a user would.
    func checkReadmeQuery(_ setup: HarnessSetup, _ workload: Workload) throws {
        let readme = try String(contentsOfFile: BuiltProducts.packageRoot + "/README.md", encoding: .utf8)
        guard let start = readme.range(of: "<!-- results-for-a-file -->"),
              let open = readme.range(of: "```sql\n", range: start.upperBound..<readme.endIndex),
              let close = readme.range(of: "```", range: open.upperBound..<readme.endIndex) else {
            Issue.record("README has no results-for-a-file SQL block"); return
        }
        let sql = String(readme[open.upperBound..<close.lowerBound])
        let file = try #require(workload.files.first { $0.kind == .duplicate })
        // The README asks about 'holiday/beach.jpg'; ask about a file of this run instead.
        let query = sql.replacingOccurrences(of: "'holiday/beach.jpg'", with: "'\(file.name)'")
            .trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: ";"))
        #expect(query != sql, "the README query names 'holiday/beach.jpg'")
        let rows = try Database(url: setup.url).query(Statement("readme.results", query))
        #expect(rows.count == 1, "README query returned \(rows.count) rows for \(file.name)")
        #expect(rows.first?["label"] == "image")
    }

    /// Provenance timings tell the story as JSON — queue wait, each stage, the total — with the number of detection
    /// passes in the settings; the "job done" line names the file and what was found.
    @Test func timingsAndTheJobDoneLineTellTheStory() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "timings")
        let daemon = try setup.start()
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
        FileManager.default.createFile(atPath: setup.inbox + "/cat.png", contents: TinyPNG.sample(seed: 31, width: 64, height: 48))
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let row = try #require(try db.query(Statement("timings.row", """
            SELECT timings_ms::text AS timings, settings ->> 'detect_passes' AS passes,
                   (SELECT count(*) FROM detections) AS n FROM provenance
            """)).first)
        let timings = try #require(try JSONSerialization.jsonObject(with: Data(try row.string("timings").utf8)) as? [String: Double])
        #expect(Set(timings.keys) == ["queue_wait", "decode", "detect", "record", "total"], "\(timings)")
        #expect(timings.values.allSatisfy { $0 >= 0 } && timings["total"]! >= timings["decode"]! + timings["detect"]!, "\(timings)")
        #expect(try row.string("passes") == "1")
        #expect(eventually(timeout: 10) { daemon.log.contains("job done") }, "\(daemon.log)")
        let line = try #require(daemon.log.split(separator: "\n").first { $0.contains("job done") })
        let found = try row.int("n")
        #expect(line.contains("file=drop/cat.png") && line.contains("detections=\(found)") && line.contains("queue_wait"), "\(line)")
    }
}
