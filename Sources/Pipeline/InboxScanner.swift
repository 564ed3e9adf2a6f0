import Foundation

/// Walks inboxes for files that inotify may not have reported: at start-up (files that arrived while the daemon
/// was down), after an event-queue overflow, periodically, and as the only source for polled inboxes.
struct InboxScanner: Sendable {
    let filter: InboxFilter
    let settleSeconds: Double

    /// Regular files under `root` that pass the filter and have not changed for `settleSeconds` (a writer that is
    /// still busy keeps touching its file; its close event brings the file in once it is done), and every other
    /// entry that is not a directory (the ingestor refuses and reports those).
    func candidates(under root: String, now: Date = Date()) -> [String] {
        scan(under: root, now: now).ready
    }

    /// As `candidates`, and whether some file was passed over for being younger than `settleSeconds` (it needs a
    /// scan of its own once it has settled, if no event brings it first).
    func scan(under root: String, now: Date = Date()) -> (ready: [String], skippedYoung: Bool) {
        var out: [String] = []
        var skippedYoung = false
        var stack = [root]
        while let dir = stack.popLast() {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in entries.sorted() where !name.hasPrefix(".") {
                let path = dir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    stack.append(path)
                case S_IFREG:
                    let relative = String(path.dropFirst(root.count + 1))
                    guard filter.accepts(relativePath: relative) else { continue }
                    let mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
                    if now.timeIntervalSince1970 - mtime >= settleSeconds { out.append(path) } else { skippedYoung = true }
                default:
                    // Symbolic links, FIFOs, sockets, devices: never opened, but handed on so the ingestor reports them.
                    let relative = String(path.dropFirst(root.count + 1))
                    if filter.accepts(relativePath: relative) { out.append(path) }
                }
            }
        }
        return (out, skippedYoung)
    }
}
