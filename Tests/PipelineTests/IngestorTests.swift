import Foundation
import Logging
import Pipeline
@testable import Store
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

    /// Entries that are not files are never opened (opening a FIFO blocked the ingest thread, stopping all intake
    /// and SIGTERM) and never followed; each is reported once in `failures` and left where it is.
    @Test func fifosSocketsAndSymlinksAreRefusedOnceAndNeverOpened() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let ing = ingestor(url: url)
        #expect(mkfifo(inbox + "/f.jpg", 0o644) == 0)
        #expect(symlink("/etc/passwd", inbox + "/passwd.jpg") == 0)
        let socketPath = inbox + "/s.jpg"
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(sock) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in socketPath.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)

        for (name, kind) in [("f.jpg", "fifo"), ("passwd.jpg", "symlink"), ("s.jpg", "socket")] {
            let path = inbox + "/" + name
            // On a background thread with a deadline: the old code blocked in open(2) on the FIFO for ever.
            let result = LockedBox<Result<Ingestor.Result, Error>?>(nil)
            let done = DispatchSemaphore(value: 0)
            Thread { result.mutate { $0 = Result { try ing.ingest(path: path) } }; done.signal() }.start()
            if done.wait(timeout: .now() + 5) == .timedOut {
                Issue.record("\(name): ingest blocked")
                let unblock = open(path, O_WRONLY | O_NONBLOCK)   // lets a reader blocked on the FIFO go
                done.wait()
                close(unblock)
            }
            guard case let .refused(got, reason, first)? = try result.value?.get() else {
                Issue.record("\(name): \(String(describing: result.value))"); continue
            }
            #expect(got == kind && first && !reason.contains("root:"), "\(name): \(reason)")
            // Reported once: a rescan finds it again and says nothing new.
            guard case .refused(_, _, false) = try ing.ingest(path: path) else { Issue.record("\(name) reported twice"); continue }
            var info = stat()
            #expect(lstat(path, &info) == 0, "\(name) was removed from the inbox")
        }
        // A device node (a copy of /dev/null's) needs CAP_MKNOD to make: checked where the tests may.
        var expected = ["f.jpg refused fifo", "passwd.jpg refused symlink", "s.jpg refused socket"]
        if mknod(inbox + "/null.jpg", S_IFCHR | 0o644, dev_t(1 << 8 | 3)) == 0 {   // makedev(1, 3)
            guard case .refused("device", _, true) = try ing.ingest(path: inbox + "/null.jpg") else {
                Issue.record("a device node was not refused"); return
            }
            expected.insert("null.jpg refused device", at: 1)
        }
        let db = Database(url: url)
        let rows = try db.query(Statement("t.refused", "SELECT original_name, kind FROM failures ORDER BY original_name"))
        #expect(try rows.map { "\(try $0.string("original_name")) \(try $0.string("kind"))" } == expected)
        #expect(try db.query(Statement("t.noimg", "SELECT id FROM images")).isEmpty)
    }

    /// The archive holds bytes that cannot change behind their recorded hash: a file with another name (a hard link a
    /// writer still uses) is copied, not linked.
    @Test func aHardLinkedFileIsCopiedSoTheArchiveCannotChange() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let original = dir.file("o.jpg")
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array("first version".utf8)
        FileManager.default.createFile(atPath: original, contents: Data(bytes))
        #expect(link(original, inbox + "/h.jpg") == 0)
        guard case let .created(_, _, sha) = try ingestor(url: url).ingest(path: inbox + "/h.jpg") else {
            Issue.record("expected a new image"); return
        }
        let archived = archive + "/" + Ingestor.archivePath(sha256: sha, format: "jpeg")
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: original))
        try writer.write(contentsOf: Data("overwritten!!".utf8))
        try writer.close()
        #expect(FileManager.default.contents(atPath: archived) == Data(bytes), "the archived bytes changed after ingest")
        var info = stat()
        #expect(stat(archived, &info) == 0 && info.st_nlink == 1 && info.st_mode & 0o222 == 0)
    }

    /// A writer that pauses longer than settle_seconds still has its file open: a scan must not take the half it
    /// has written (it was archived and quarantined as truncated, and the inbox name removed under the writer).
    @Test func aFileStillOpenForWritingIsLeftUntilItsWriterFinishes() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let ing = ingestor(url: url)
        let path = inbox + "/slow.jpg"
        FileManager.default.createFile(atPath: path, contents: nil)
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try writer.write(contentsOf: Data([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 7, count: 316)))
        guard case let .skipped(reason) = try ing.ingest(path: path) else {
            Issue.record("a file still open for writing was taken"); try writer.close(); return
        }
        #expect(reason.contains("open for writing"), "\(reason)")
        #expect(FileManager.default.fileExists(atPath: path))
        try writer.write(contentsOf: Data([UInt8](repeating: 9, count: 700)))
        try writer.close()
        guard case .created = try ing.ingest(path: path) else { Issue.record("the finished file was not taken"); return }
        let size = try Database(url: url).query(Statement("t.size", "SELECT byte_size FROM images")).first?.int("byte_size")
        #expect(size == 1020)
    }

    /// A file created empty and closed, then written by a second open (`touch`, then `cat >`): the first close is not
    /// the end of it. The empty file is left while it is young; once written it is taken whole. (It used to be taken
    /// empty at once — hard-linked into the archive, where the second open's bytes then landed — and quarantined.)
    /// An empty file that stays empty past the grace period is taken, to be quarantined as empty.
    @Test func anEmptyFileIsLeftForItsWriterUntilItSettles() throws {
        let url = try TestDatabase.fresh(migrated: true)
        let ing = ingestor(url: url)
        let path = inbox + "/touched.jpg"
        FileManager.default.createFile(atPath: path, contents: nil)
        guard case let .skipped(reason) = try ing.ingest(path: path) else {
            Issue.record("a young empty file was taken"); return
        }
        #expect(reason.contains("empty"), "\(reason)")
        let bytes = [UInt8]([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 7, count: 500))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        guard case .created = try ing.ingest(path: path) else { Issue.record("the written file was not taken"); return }
        #expect(try Database(url: url).query(Statement("t.touched", "SELECT byte_size FROM images")).first?.int("byte_size") == bytes.count)

        let old = inbox + "/still-empty.jpg"
        FileManager.default.createFile(atPath: old, contents: nil)
        let tenMinutesAgo = Date().addingTimeInterval(-600)
        try FileManager.default.setAttributes([.modificationDate: tenMinutesAgo], ofItemAtPath: old)
        guard case .created = try ing.ingest(path: old) else { Issue.record("an empty file that settled was left for ever"); return }
    }

    func sha(_ bytes: [UInt8]) -> String {
        // Recomputed by ingesting into a scratch database would be circular; use the archive name instead.
        let names = (FileManager.default.enumerator(atPath: archive)?.allObjects as? [String]) ?? []
        return names.compactMap { $0.split(separator: "/").last.map(String.init) }
            .first { $0.count > 64 }.map { String($0.prefix(64)) } ?? ""
    }
}
