import Foundation
import Logging
import Pipeline
import Store
import TestSupport
import Testing

@Suite struct IngestorTests {
    let dir = TemporaryDirectory("ing")
    var inbox: String { dir.file("inbox") }
    var archive: String { dir.file("archive") }

    init() throws {
        try FileManager.default.createDirectory(atPath: dir.file("inbox/sub"), withIntermediateDirectories: true)
    }

    func ingestor(url: String) -> Ingestor {
        Ingestor(database: Database(url: url), inboxes: [InboxConfig(name: "in", path: inbox)],
                 ignoredSuffixes: Config().ignoredSuffixes, archiveRoot: archive, maxAttempts: 3,
                 logger: Logger(label: "test"))
    }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = inbox + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test func newBytesAreArchivedRecordedAndRemovedFromTheInbox() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]
        let path = write("sub/a.jpg", bytes)
        guard case let .created(_, _, sha) = try ingestor(url: url).ingest(path: path) else {
            Issue.record("expected a new image"); return
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        let archived = archive + "/" + Ingestor.archivePath(sha256: sha, format: "jpeg")
        #expect(FileManager.default.contents(atPath: archived) == Data(bytes))
        let row = try #require(try Database(url: url).query(Statement("t.img", "SELECT original_name, inbox, format, byte_size FROM images")).first)
        #expect(try row.string("original_name") == "sub/a.jpg" && row.string("format") == "jpeg" && row.int("byte_size") == 7)
    }

    @Test func duplicatesCollapseAndRepeatsAfterACrashAreHarmless() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let ing = ingestor(url: url)
        let bytes: [UInt8] = Array("same bytes".utf8)
        guard case let .created(imageID, _, _) = try ing.ingest(path: write("one.png", bytes)) else {
            Issue.record("expected a new image"); return
        }
        #expect(try ing.ingest(path: write("two.png", bytes)) == .duplicate(imageID: imageID, sha256: sha(bytes)))
        // A crash after the commit but before the inbox name was removed: the file is found again.
        #expect(try ing.ingest(path: write("two.png", bytes)) == .duplicate(imageID: imageID, sha256: sha(bytes)))
        let counts = try Database(url: url).query(Statement("t.c", """
            SELECT (SELECT count(*) FROM images) AS i, (SELECT count(*) FROM jobs) AS j,
                   (SELECT count(*) FROM image_arrivals) AS a
            """)).first!
        #expect(try counts.int("i") == 1 && counts.int("j") == 1 && counts.int("a") == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: inbox).sorted() == ["sub"])
    }

    @Test func quarantinedBytesArrivingAgainDoNotRefillTheArchive() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let ing = ingestor(url: url)
        let db = Database(url: url)
        let bytes: [UInt8] = Array("not an image".utf8)
        guard case let .created(imageID, _, sha) = try ing.ingest(path: write("bad.jpg", bytes)) else {
            Issue.record("expected a new image"); return
        }
        let job = try #require(try db.claimJobs(owner: "w", limit: 1, lease: 60).first)
        #expect(try db.quarantine(job, owner: "w", stage: "decode", path: "q/bad.jpg", reason: "not an image"))
        let archived = archive + "/" + Ingestor.archivePath(sha256: sha, format: "unknown")
        unlink(archived)  // what the scheduler does once the quarantine is recorded
        #expect(try ing.ingest(path: write("bad-again.jpg", bytes)) == .duplicate(imageID: imageID, sha256: sha))
        #expect(!FileManager.default.fileExists(atPath: archived))
        #expect(!FileManager.default.fileExists(atPath: inbox + "/bad-again.jpg"))
    }

    @Test func hiddenAndPartialFilesStay() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let ing = ingestor(url: url)
        for name in [".hidden.jpg", "upload.jpg.part"] {
            let path = write(name, [1, 2, 3])
            guard case .skipped = try ing.ingest(path: path) else { Issue.record("\(name) must be skipped"); continue }
            #expect(FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func whenTheDatabaseIsAwayTheFileStaysInTheInbox() throws {
        let ing = ingestor(url: "host=/nonexistent port=5432 dbname=x connect_timeout=1")
        let path = write("keep.jpg", [9, 9, 9])
        #expect { _ = try ing.ingest(path: path) } throws: { ($0 as? StoreError)?.isTransient == true }
        #expect(FileManager.default.contents(atPath: path) == Data([9, 9, 9]))
    }

    func sha(_ bytes: [UInt8]) -> String {
        // Recomputed by ingesting into a scratch database would be circular; use the archive name instead.
        let names = (FileManager.default.enumerator(atPath: archive)?.allObjects as? [String]) ?? []
        return names.compactMap { $0.split(separator: "/").last.map(String.init) }
            .first { $0.count > 64 }.map { String($0.prefix(64)) } ?? ""
    }
}
