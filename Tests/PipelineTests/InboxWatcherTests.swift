import Foundation
import Logging
@testable import Pipeline
import TestSupport
import Testing

/// Real inotify. libinotifytools keeps process-global state, so these run one at a time.
@Suite(.serialized) struct InboxWatcherTests {
    final class Seen: @unchecked Sendable {
        let box = LockedBox<[String]>([])
        func add(_ path: String) { box.mutate { $0.append(path) } }
        var paths: [String] { box.value }
        func count(_ path: String) -> Int { paths.filter { $0 == path }.count }
    }

    func start(_ inboxes: [InboxConfig], seen: Seen, settle: Double = 0.3) throws -> InboxWatcher {
        let watcher = InboxWatcher(inboxes: inboxes, ignoredSuffixes: Config().ignoredSuffixes,
                                   settleSeconds: settle, scanInterval: 3600, pollInterval: 0.3,
                                   logger: Logger(label: "test")) { seen.add($0) }
        try watcher.start()
        return watcher
    }

    /// Waits until the watcher has handled every event before this call: inotify queues a watch's events in order,
    /// so once a file closed now is reported, everything that happened earlier has been handled (a negative check
    /// needs no sleep).
    func drain(_ inbox: String, _ seen: Seen) -> Bool {
        let marker = inbox + "/drain-\(UUID().uuidString).jpg"
        FileManager.default.createFile(atPath: marker, contents: Data([0]))
        return eventually(timeout: 5) { seen.count(marker) >= 1 }
    }

    @Test func reportsClosedAndMovedInFilesAndNewSubdirectories() throws {
        let dir = TemporaryDirectory("w")
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        // A file that arrived while the daemon was down: found by the start-up scan.
        FileManager.default.createFile(atPath: inbox + "/old.jpg", contents: Data([1]))
        var old = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, inbox + "/old.jpg", &old, 0)

        let seen = Seen()
        let watcher = try start([InboxConfig(name: "in", path: inbox)], seen: seen)
        defer { watcher.stop() }
        #expect(seen.count(inbox + "/old.jpg") == 1)

        // Written in place: reported once, when closed.
        let fd = open(inbox + "/a.jpg", O_WRONLY | O_CREAT, 0o644)
        #expect(write(fd, [1, 2], 2) == 2)
        #expect(drain(inbox, seen))
        #expect(seen.count(inbox + "/a.jpg") == 0, "reported before the writer closed it")
        #expect(write(fd, [3], 1) == 1)
        close(fd)
        #expect(eventually(timeout: 5) { seen.count(inbox + "/a.jpg") >= 1 })

        // Published by rename: the final name is reported, the partial never.
        FileManager.default.createFile(atPath: inbox + "/b.jpg.part", contents: Data([4]))
        rename(inbox + "/b.jpg.part", inbox + "/b.jpg")
        #expect(eventually(timeout: 5) { seen.count(inbox + "/b.jpg") >= 1 })

        // A directory created later is watched too, including a file that lands before its watch exists.
        try FileManager.default.createDirectory(atPath: inbox + "/new/deeper", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: inbox + "/new/deeper/c.jpg", contents: Data([5]))
        #expect(eventually(timeout: 5) { seen.count(inbox + "/new/deeper/c.jpg") >= 1 })

        FileManager.default.createFile(atPath: inbox + "/.hidden.jpg", contents: Data([6]))
        #expect(drain(inbox, seen))
        #expect(!seen.paths.contains { $0.hasSuffix(".part") || $0.hasSuffix(".hidden.jpg") }, "\(seen.paths)")
    }

    /// After an overflow the rescan skips files younger than settle_seconds; a follow-up scan takes them once they
    /// have settled instead of leaving them for the next periodic scan (an hour here).
    @Test func anOverflowScanIsFollowedUpOnceYoungFilesSettle() throws {
        let dir = TemporaryDirectory("wo")
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        let seen = Seen()
        let watcher = try start([InboxConfig(name: "in", path: inbox)], seen: seen, settle: 1.0)
        defer { watcher.stop() }
        // A hard link makes no close or move event: only a scan can find this file, as after a lost event.
        let outside = dir.file("young.jpg")
        FileManager.default.createFile(atPath: outside, contents: Data([1, 2, 3]))
        #expect(link(outside, inbox + "/young.jpg") == 0)
        watcher.overflowed()
        #expect(seen.count(inbox + "/young.jpg") == 0, "a file younger than settle_seconds was taken by the overflow scan")
        #expect(eventually(timeout: 5) { seen.count(inbox + "/young.jpg") == 1 }, "\(seen.paths)")
    }

    /// A file closed just before the daemon started (its close event lost with the old process) is too young for
    /// the start-up scan; a follow-up scan takes it instead of the next periodic scan (an hour here; 60 s by default).
    @Test func theStartUpScanIsFollowedUpToo() throws {
        let dir = TemporaryDirectory("ws")
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: inbox + "/just-closed.jpg", contents: Data([1, 2, 3]))
        let seen = Seen()
        let watcher = try start([InboxConfig(name: "in", path: inbox)], seen: seen, settle: 1.0)
        defer { watcher.stop() }
        #expect(seen.count(inbox + "/just-closed.jpg") == 0)
        #expect(eventually(timeout: 5) { seen.count(inbox + "/just-closed.jpg") == 1 }, "\(seen.paths)")
    }

    /// A FIFO, a socket or a symbolic link created in an inbox never closes after writing: it is handed on when it
    /// appears (the ingestor refuses and reports it), and scans hand it on too.
    @Test func entriesThatAreNotFilesAreHandedOnToBeReported() throws {
        let dir = TemporaryDirectory("wn")
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        #expect(mkfifo(inbox + "/before.fifo", 0o644) == 0)
        let seen = Seen()
        let watcher = try start([InboxConfig(name: "in", path: inbox)], seen: seen)
        defer { watcher.stop() }
        #expect(seen.count(inbox + "/before.fifo") == 1, "the start-up scan skipped a FIFO")
        #expect(mkfifo(inbox + "/f.jpg", 0o644) == 0)
        #expect(symlink("/etc/passwd", inbox + "/passwd.jpg") == 0)
        #expect(eventually(timeout: 5) { seen.count(inbox + "/f.jpg") == 1 && seen.count(inbox + "/passwd.jpg") == 1 },
                "\(seen.paths)")
    }

    @Test func pollingInboxesFindFilesWithoutInotify() throws {
        let dir = TemporaryDirectory("wp")
        let inbox = dir.file("nfs")
        let seen = Seen()
        let watcher = try start([InboxConfig(name: "nfs", path: inbox, poll: true)], seen: seen, settle: 0.2)
        defer { watcher.stop() }
        FileManager.default.createFile(atPath: inbox + "/p.jpg", contents: Data([7]))
        #expect(eventually(timeout: 5) { seen.count(inbox + "/p.jpg") >= 1 })
    }
}
