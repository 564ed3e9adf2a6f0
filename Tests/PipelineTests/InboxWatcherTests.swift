import Foundation
import Logging
import Pipeline
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
        Thread.sleep(forTimeInterval: 0.2)
        #expect(seen.count(inbox + "/a.jpg") == 0, "reported before the writer closed it")
        #expect(write(fd, [3], 1) == 1)
        close(fd)
        #expect(eventually(timeout: 5) { seen.count(inbox + "/a.jpg") >= 1 })

        // Published by rename: the final name is reported, the partial never.
        FileManager.default.createFile(atPath: inbox + "/b.jpg.part", contents: Data([4]))
        rename(inbox + "/b.jpg.part", inbox + "/b.jpg")
        #expect(eventually(timeout: 5) { seen.count(inbox + "/b.jpg") >= 1 })

        // A directory created later is watched too.
        try FileManager.default.createDirectory(atPath: inbox + "/new/deeper", withIntermediateDirectories: true)
        Thread.sleep(forTimeInterval: 0.3)
        FileManager.default.createFile(atPath: inbox + "/new/deeper/c.jpg", contents: Data([5]))
        #expect(eventually(timeout: 5) { seen.count(inbox + "/new/deeper/c.jpg") >= 1 })

        FileManager.default.createFile(atPath: inbox + "/.hidden.jpg", contents: Data([6]))
        Thread.sleep(forTimeInterval: 1.2)
        #expect(!seen.paths.contains { $0.hasSuffix(".part") || $0.hasSuffix(".hidden.jpg") }, "\(seen.paths)")
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
