import Foundation
import Logging
@testable import Pipeline
@testable import Store
import TestSupport
import Testing

/// The crash journal and what a restart makes of it.
@Suite struct CrashRecoveryTests {
    let dir = TemporaryDirectory("crash")

    func queue(_ count: Int) throws -> Database {
        try FileManager.default.createDirectory(atPath: dir.file("archive"), withIntermediateDirectories: true)
        let db = Database(url: try TestDatabase.fresh(migrated: true))
        for i in 0..<count {
            let sha = String(format: "%064x", 0xC0FFEE + i)
            _ = try db.recordArrival(NewImage(sha256: sha, inbox: "in", originalName: "\(i).png", archivePath: "\(i).png",
                                              byteSize: 1, format: "png"), maxAttempts: 3)
            FileManager.default.createFile(atPath: dir.file("archive/\(i).png"), contents: Data([UInt8(i)]))
        }
        return db
    }

    func recovery(_ db: Database) -> CrashRecovery {
        CrashRecovery(database: db, quarantine: Quarantine(archiveRoot: dir.file("archive"), quarantineRoot: dir.file("q")),
                      logger: Logger(label: "test"))
    }

    static let state = Statement("crash.state", "SELECT id, state, attempt, suspect, deaths FROM jobs ORDER BY id")

    @Test func theJournalSurvivesItsProcessUntilItsRecordIsDealtWith() throws {
        let path = dir.file("inflight.journal")
        let (first, none) = try CrashJournal.open(path: path, owner: "h:0:1:a")
        #expect(none.isEmpty)
        let a = try #require(first.begin(jobID: 7, stage: "decode", isolated: false))
        let b = try #require(first.begin(jobID: 8, stage: "decode", isolated: false))
        first.enter(slot: a, stage: "detect")
        first.end(slot: b)
        // What a second process finds (the first one's mapping stays as a crash would leave it).
        let (second, previous) = try CrashJournal.open(path: path, owner: "h:0:2:b")
        let expected = CrashJournal.Record(owner: "h:0:1:a", pid: getpid(), signal: 0, inFlight: [
            .init(jobID: 7, stage: "detect", isolated: false, thread: CrashJournal.currentThread())])
        #expect(previous == [expected])
        // The second process died before its recovery finished: the third still gets the first one's record.
        _ = try #require(second.begin(jobID: 9, stage: "decode", isolated: true))
        let (third, both) = try CrashJournal.open(path: path, owner: "h:0:3:c")
        #expect(both.map(\.owner) == ["h:0:1:a", "h:0:2:b"] && both.first == expected)
        third.recovered()
        let (_, after) = try CrashJournal.open(path: path, owner: "h:0:4:d")
        #expect(after.isEmpty, "an idle process leaves nothing to recover")
    }

    /// Several jobs in flight when the worker died: none is charged, all come back as suspects.
    @Test func jobsInFlightTogetherComeBackAsSuspectsWithoutSpendingAnAttempt() throws {
        let db = try queue(3)
        let jobs = try db.claimJobs(owner: "h:1:a", limit: 3, lease: 300)
        try recovery(db).recover(CrashJournal.Record(owner: "h:1:a", pid: 1, signal: SIGSEGV, faultThread: 5,
            inFlight: jobs.map { .init(jobID: $0.jobID, stage: "detect", isolated: false, thread: 5) }))
        let rows = try db.query(Self.state)
        #expect(try rows.allSatisfy { try $0.string("state") == "available" && $0.int("attempt") == 0 && $0.bool("suspect") })
        // Ordinary claims wait for the suspects; one suspect is claimed at a time.
        #expect(try db.claimJobs(owner: "h:2:b", limit: 3, lease: 300).isEmpty)
        #expect(try db.claimSuspect(owner: "h:2:b", lease: 300) != nil)
    }

    /// A suspect running alone when the worker crashed is the cause: quarantined with the signal and the stage.
    /// Killed from outside (no signal) while alone, it gets a second chance; the second such death quarantines it.
    @Test func aSuspectAloneIsQuarantinedWithTheSignalAndTheStage() throws {
        let db = try queue(2)
        // A crash in another thread while a suspect runs alone is not the suspect's doing.
        let innocent = try #require(try db.claimJobs(owner: "h:0:a", limit: 1, lease: 300).first)
        try recovery(db).recover(.init(owner: "h:0:a", pid: 1, signal: SIGSEGV, faultThread: 9,
                                       inFlight: [.init(jobID: innocent.jobID, stage: "detect", isolated: true, thread: 5)]))
        #expect(try db.query(Statement("crash.none", "SELECT reason FROM failures")).isEmpty)

        let crashing = try #require(try db.claimSuspect(owner: "h:1:a", lease: 300))
        try recovery(db).recover(.init(owner: "h:1:a", pid: 1, signal: SIGILL, faultThread: 5,
                                       inFlight: [.init(jobID: crashing.jobID, stage: "detect", isolated: true, thread: 5)]))
        let reason = try db.query(Statement("crash.reason", "SELECT reason FROM failures")).first?.string("reason")
        #expect(reason == "crashed the daemon (signal 4, SIGILL) in stage detect while running alone")
        #expect(FileManager.default.fileExists(atPath: dir.file("q/\(crashing.sha256.prefix(12))-0.png")))

        for attempt in 1...2 {
            let killed = try #require(try db.claimSuspect(owner: "h:\(attempt + 1):b", lease: 300)
                                      ?? db.claimJobs(owner: "h:\(attempt + 1):b", limit: 1, lease: 300).first)
            try recovery(db).recover(.init(owner: "h:\(attempt + 1):b", pid: 1, signal: 0,
                                           inFlight: [.init(jobID: killed.jobID, stage: "decode", isolated: true)]))
        }
        let rows = try db.query(Statement("crash.quarantined", "SELECT count(*) AS n FROM images WHERE status = 'quarantined'"))
        #expect(try rows.first?.int("n") == 2)
    }

    /// A worker on this host whose process is gone holds leases nobody will renew: its jobs come back at once
    /// instead of after the lease (300 s).
    @Test func jobsOfADeadProcessOnThisHostAreReturnedAtOnce() throws {
        let db = try queue(2)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = "thishost:\(child.processIdentifier):x"
        let alive = "thishost:\(getpid()):y"
        _ = try db.claimJobs(owner: dead, limit: 1, lease: 300)
        _ = try db.claimJobs(owner: alive, limit: 1, lease: 300)
        try recovery(db).returnJobsOfDeadLocalWorkers(host: "thishost", me: "thishost:\(getpid()):me")
        let rows = try db.query(Self.state)
        #expect(try rows.map { try $0.string("state") } == ["available", "running"])
    }
}
