import Foundation
import Logging
import Pipeline
@testable import Store
import TestSupport
import Testing

/// The scheduler with stand-in stages (no model, no decoder): concurrency limits, backpressure, failures, shutdown.
@Suite struct SchedulerTests {
    let dir = TemporaryDirectory("sch")

    /// Counts how many items are inside a stage at once, optionally failing or sleeping (simulated work), or holding
    /// items until `holdUntil` of them are inside at once (then never again): saturation without timing.
    final class ProbeStage: Stage, @unchecked Sendable {
        let name: String
        let sleep: Double
        let behaviour: @Sendable (WorkItem) throws -> StageResult
        let current = LockedBox(0)
        let peak = LockedBox(0)
        let holdUntil: Int
        let together = NSCondition()

        init(_ name: String, sleep: Double = 0, holdUntil: Int = 0,
             behaviour: @escaping @Sendable (WorkItem) throws -> StageResult = { _ in .next }) {
            self.name = name
            self.sleep = sleep
            self.holdUntil = holdUntil
            self.behaviour = behaviour
        }

        func run(_ item: WorkItem) throws -> StageResult {
            let now = current.mutate { $0 += 1; return $0 }
            peak.mutate { $0 = max($0, now) }
            defer { current.mutate { $0 -= 1 } }
            if holdUntil > 0 {
                together.lock()
                together.broadcast()
                while peak.value < holdUntil { together.wait() }
                together.unlock()
            }
            if sleep > 0 { Thread.sleep(forTimeInterval: sleep) }
            return try behaviour(item)
        }
    }

    /// The real record step: results and completion in one transaction.
    static func record(_ database: Database) -> @Sendable (WorkItem) throws -> StageResult {
        { item in
            let provenance = ProvenanceRow(modelVersion: "probe@1", weightsSHA256: String(repeating: "b", count: 64),
                                           codeVersion: "t", host: "h", timingsMS: item.timingsMS)
            return try database.recordResults(for: item.job, owner: item.owner, width: 1, height: 1, detections: [],
                                              provenance: provenance) ? .completed : .leaseLost
        }
    }

    func setUp(files: Int) throws -> (Database, Ingestor) {
        let url = try TestDatabase.fresh(migrated: true)
        let database = Database(url: url)
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        let ingestor = Ingestor(database: database, inboxes: [InboxConfig(name: "in", path: inbox)],
                                ignoredSuffixes: [], archiveRoot: dir.file("archive"), maxAttempts: 3,
                                logger: Logger(label: "test"))
        for n in 0..<files {
            let path = inbox + "/f\(n).bin"
            FileManager.default.createFile(atPath: path, contents: Data("file \(n)".utf8))
            _ = try ingestor.ingestWritten(path: path)
        }
        return (database, ingestor)
    }

    func scheduler(_ database: Database, _ stages: [any Stage], maxInFlight: Int = 4,
                   concurrency: [String: Int] = [:], lease: Double = 30) -> Scheduler {
        Scheduler(database: database, listenerURL: database.url, stages: stages,
                  settings: .init(owner: "test-\(UUID().uuidString.prefix(6))", maxInFlight: maxInFlight,
                                  leaseSeconds: lease, claimPollInterval: 0.2, stageConcurrency: concurrency),
                  archiveRoot: dir.file("archive"), quarantineRoot: dir.file("quarantine"), notifier: nil,
                  logger: Logger(label: "test"))
    }

    static let states = Statement("t.states", "SELECT state, count(*) AS n FROM jobs GROUP BY state")
    func states(_ db: Database) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try db.query(Self.states) { out[try row.string("state")] = try row.int("n") }
        return out
    }

    @Test func respectsStageConcurrencyAndTheInFlightBound() throws {
        let (db, _) = try setUp(files: 24)
        let first = ProbeStage("first")
        // Its first item waits for a second one to come in: the test fails (times out) unless the scheduler lets
        // two items into this stage at once, and no timing can make it pass or fail by luck.
        let slow = ProbeStage("slow", holdUntil: 2)
        let last = ProbeStage("last", behaviour: Self.record(db))
        let s = scheduler(db, [first, slow, last], maxInFlight: 5, concurrency: ["first": 3, "slow": 2, "last": 1])
        let peakInFlight = LockedBox(0)
        s.start()
        let done = eventually(timeout: 30) {
            peakInFlight.mutate { $0 = max($0, s.inFlightCount) }
            return (try? states(db))?["done"] == 24
        }
        s.shutdown(budget: 1)
        #expect(done)
        #expect(first.peak.value <= 3 && slow.peak.value <= 2 && last.peak.value <= 1)
        #expect(slow.peak.value == 2, "the slow stage should have been saturated")
        #expect(peakInFlight.value <= 5)
        #expect(s.currentStats.completed == 24)
    }

    @Test func rejectedInputIsQuarantinedWithItsReason() throws {
        let (db, _) = try setUp(files: 1)
        let s = scheduler(db, [ProbeStage("decode") { _ in throw StageFailure.reject(reason: "not an image") }])
        s.start()
        #expect(eventually(timeout: 10) { (try? states(db))?["discarded"] == 1 })
        s.shutdown(budget: 1)
        let row = try #require(try db.query(Statement("t.q", "SELECT quarantine_path, quarantine_reason, archive_path FROM images")).first)
        #expect(try row.string("quarantine_reason") == "not an image")
        #expect(FileManager.default.fileExists(atPath: dir.file("quarantine/" + (try row.string("quarantine_path")))))
        #expect(!FileManager.default.fileExists(atPath: dir.file("archive/" + (try row.string("archive_path")))))
    }

    @Test func failuresAreRetriedWithTheErrorKept() throws {
        let (db, _) = try setUp(files: 1)
        struct Flaky: Error, CustomStringConvertible { var description: String { "flaky failure" } }
        let s = scheduler(db, [
            ProbeStage("flaky") { item in
                if item.job.attempt == 1 { throw Flaky() }
                return .next
            },
            ProbeStage("record", behaviour: Self.record(db)),
        ])
        s.start()
        // Attempt 1 fails, backs off 1⁴ s ± 10 %, attempt 2 succeeds.
        #expect(eventually(timeout: 15) { (try? states(db))?["done"] == 1 })
        s.shutdown(budget: 1)
        let row = try #require(try db.query(Statement("t.e", "SELECT attempt, errors::text AS e FROM jobs")).first)
        #expect(try row.int("attempt") == 2)
        #expect(try row.string("e").contains("flaky failure"))
    }

    @Test func shutdownReturnsUnfinishedWorkToTheQueue() throws {
        let (db, _) = try setUp(files: 6)
        let s = scheduler(db, [ProbeStage("stuck", sleep: 3), ProbeStage("record", behaviour: Self.record(db))],
                          maxInFlight: 3, concurrency: ["stuck": 1])
        s.start()
        #expect(eventually(timeout: 5) { s.inFlightCount == 3 })
        s.shutdown(budget: 0.2)
        let counts = try states(db)
        #expect(counts["running"] == nil, "\(counts)")
        let attempts = try db.query(Statement("t.a", "SELECT max(attempt) AS m FROM jobs WHERE state <> 'done'")).first
        #expect(try attempts?.int("m") == 0, "released jobs keep their attempt")
    }

    /// Typed stages joined by `StageChain`: each gets exactly what the one before it handed on.
    struct Measure: TypedStage {
        let name = "measure"
        func run(_ input: Void, _ item: WorkItem) throws -> StageOutput<Int> { .next(item.job.jobID * 10) }
    }

    struct Check: TypedStage {
        let name = "check"
        let seen: LockedBox<[Int: Int]>
        let database: Database
        func run(_ input: Int, _ item: WorkItem) throws -> StageOutput<Never> {
            seen.mutate { $0[item.job.jobID] = input }
            guard case .completed = try SchedulerTests.record(database)(item) else { return .leaseLost }
            return .completed
        }
    }

    @Test func aStageChainHandsEachStageWhatThePreviousOneMade() throws {
        let (db, _) = try setUp(files: 3)
        let seen = LockedBox<[Int: Int]>([:])
        let s = scheduler(db, StageChain(Measure()).then(Check(seen: seen, database: db)).stages)
        s.start()
        #expect(eventually(timeout: 15) { (try? states(db))?["done"] == 3 })
        s.shutdown(budget: 1)
        #expect(seen.value.count == 3 && seen.value.allSatisfy { $0.value == $0.key * 10 }, "\(seen.value)")
    }
}

