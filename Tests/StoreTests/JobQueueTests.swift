import Foundation
@testable import Store
import TestSupport
import Testing

@Suite struct JobQueueTests {
    private func image(_ n: Int) -> NewImage {
        let sha = String(repeating: String(format: "%02x", n % 256), count: 32)
        return NewImage(sha256: sha, inbox: "in", originalName: "img\(n).jpg", archivePath: "a/\(n)",
                        byteSize: 10, format: "jpeg")
    }

    private func fresh() throws -> Database { Database(url: try TestDatabase.fresh(migrated: true)) }

    private static let jobRow = Statement("test.job", """
        SELECT state, attempt, coalesce(array_length(errors, 1), 0) AS n_errors, lease_owner,
               extract(epoch FROM run_after - now()) AS delay
        FROM jobs WHERE id = $1::bigint
        """)

    @Test func sameBytesTwiceMakeOneImageOneJobTwoArrivals() throws {
        let db = try fresh()
        guard case .created(let imageID, _) = try db.recordArrival(image(1), maxAttempts: 3) else {
            Issue.record("first arrival must create"); return
        }
        var again = image(1)
        again.originalName = "copy-of-img1.jpg"
        #expect(try db.recordArrival(again, maxAttempts: 3) == .duplicate(imageID: imageID))
        // Re-recording the very same arrival (a crash before the inbox file was removed) changes nothing.
        #expect(try db.recordArrival(again, maxAttempts: 3) == .duplicate(imageID: imageID))
        let counts = try db.query(Statement("test.counts", """
            SELECT (SELECT count(*) FROM images) AS images, (SELECT count(*) FROM jobs) AS jobs,
                   (SELECT count(*) FROM image_arrivals) AS arrivals
            """)).first!
        #expect(try counts.int("images") == 1 && counts.int("jobs") == 1 && counts.int("arrivals") == 2)
    }

    @Test func concurrentClaimsNeverOverlap() throws {
        let db = try fresh()
        for n in 0..<60 { _ = try db.recordArrival(image(n), maxAttempts: 3) }
        let claimed = LockedBox<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { worker in
            while let jobs = try? db.claimJobs(owner: "w\(worker)", limit: 4, lease: 60), !jobs.isEmpty {
                claimed.mutate { $0 += jobs.map(\.jobID) }
            }
        }
        #expect(claimed.value.count == 60)
        #expect(Set(claimed.value).count == 60)
    }

    @Test func failuresBackOffAppendErrorsAndDiscardAtTheLastAttempt() throws {
        let db = try fresh()
        _ = try db.recordArrival(image(7), maxAttempts: 2)
        let first = try #require(try db.claimJobs(owner: "w", limit: 1, lease: 60).first)
        #expect(try db.retryJob(first.jobID, owner: "w", stage: "detect", error: "boom 1", delay: 30) == "retryable")
        let row = try #require(try db.query(Self.jobRow, [first.jobID]).first)
        #expect(try row.string("state") == "retryable" && row.int("n_errors") == 1 && row["lease_owner"] == nil)
        #expect(try row.double("delay") > 25)
        // Not claimable before run_after.
        #expect(try db.claimJobs(owner: "w", limit: 1, lease: 60).isEmpty)
        try db.query(Statement("test.due", "UPDATE jobs SET run_after = now()"))
        let second = try #require(try db.claimJobs(owner: "w", limit: 1, lease: 60).first)
        #expect(second.attempt == 2)
        #expect(try db.retryJob(second.jobID, owner: "w", stage: "detect", error: "boom 2", delay: 1) == "discarded")
        let errors = try db.query(Statement("test.errors", "SELECT errors::text AS e FROM jobs")).first!.string("e")
        #expect(errors.contains("boom 1") && errors.contains("boom 2"))
    }

    @Test func rescuerReturnsExpiredLeasesAndResultsOfTheOldOwnerAreRefused() throws {
        let db = try fresh()
        _ = try db.recordArrival(image(3), maxAttempts: 3)
        let job = try #require(try db.claimJobs(owner: "dead", limit: 1, lease: 60).first)
        #expect(try db.rescueExpiredJobs() == 0, "a live lease is not rescued")
        // The lease runs out (set in the past rather than waited for).
        try db.query(Statement("test.expire", "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE state = 'running'"))
        #expect(try db.rescueExpiredJobs() == 1)
        // Its worker died with it in flight: it comes back as a suspect, which only a claim for one job alone takes.
        #expect(try db.claimJobs(owner: "alive", limit: 1, lease: 60).isEmpty)
        let again = try #require(try db.claimSuspect(owner: "alive", lease: 60))
        #expect(again.jobID == job.jobID && again.attempt == 2)
        let provenance = ProvenanceRow(modelVersion: "m@1", weightsSHA256: String(repeating: "a", count: 64),
                                       codeVersion: "t", host: "h")
        // The dead worker comes back and tries to store its results: refused, nothing stored.
        #expect(try db.recordResults(for: job, owner: "dead", width: 4, height: 4, detections: [], provenance: provenance) == false)
        let detection = DetectionRow(label: "cat", prompt: "a cat", categoryID: nil, score: 0.9, box: (1, 2, 3, 4))
        #expect(try db.recordResults(for: again, owner: "alive", width: 4, height: 4, detections: [detection],
                                     provenance: provenance))
        let row = try #require(try db.query(Self.jobRow, [job.jobID]).first)
        #expect(try row.string("state") == "done")
        let stored = try db.query(Statement("test.dets", "SELECT label, score FROM detections"))
        #expect(stored.count == 1)
    }

    @Test func releaseGivesBackTheAttempt() throws {
        let db = try fresh()
        _ = try db.recordArrival(image(4), maxAttempts: 3)
        let job = try #require(try db.claimJobs(owner: "w", limit: 1, lease: 60).first)
        try db.releaseJobs([job.jobID], owner: "w")
        let row = try #require(try db.query(Self.jobRow, [job.jobID]).first)
        #expect(try row.string("state") == "available" && row.int("attempt") == 0)
    }

    @Test func checkConstraintsRejectImpossibleStates() throws {
        let db = try fresh()
        _ = try db.recordArrival(image(5), maxAttempts: 3)
        #expect {
            try db.query(Statement("test.bad_running", "UPDATE jobs SET state = 'running', attempt = 1"))
        } throws: { ($0 as? StoreError)?.sqlState == "23514" }
        #expect {
            try db.query(Statement("test.bad_state", "UPDATE jobs SET state = 'exploded'"))
        } throws: { ($0 as? StoreError)?.sqlState == "23514" }
    }

    @Test func quarantineRecordsTheReasonAndDiscardsTheJob() throws {
        let db = try fresh()
        _ = try db.recordArrival(image(6), maxAttempts: 3)
        let job = try #require(try db.claimJobs(owner: "w", limit: 1, lease: 60).first)
        #expect(try db.quarantine(job, owner: "w", stage: "decode", path: "q/img6.jpg", reason: "truncated JPEG"))
        let failure = try #require(try db.query(Statement("test.failures", "SELECT kind, reason FROM failures")).first)
        #expect(try failure.string("kind") == "quarantined" && failure.string("reason") == "truncated JPEG")
        let status = try db.queueStatus()
        #expect(status.counts["discarded"] == 1 && status.quarantined == 1)
    }
}
