import Crypto
import Foundation
import Logging
import Store

/// Takes files out of inboxes: hash, hard-link (or copy) into the content-addressed archive, record the image and
/// its job in one transaction, and only then remove the inbox name. A crash at any point leaves the file either
/// still in the inbox (it is ingested again, idempotently) or fully recorded — never lost.
public final class Ingestor: @unchecked Sendable {
    public enum Result: Sendable, Equatable {
        case created(imageID: Int, jobID: Int, sha256: String)
        case duplicate(imageID: Int, sha256: String)
        case skipped(String)
        /// An entry pipelined will not open (a symbolic link, FIFO, socket, device, or a file it may not read): it
        /// stays where it is, reported once in `failures`. `firstReport` is false when it was reported before.
        case refused(kind: String, reason: String, firstReport: Bool)
    }

    private let database: Database
    private let inboxes: [Inbox]
    private let filter: InboxFilter
    private let archiveRoot: String
    private let maxAttempts: Int
    private let emptyGrace: Double
    private let logger: Logger

    private let lock = NSCondition()
    private var pending: [String] = []
    private var pendingSet: Set<String> = []
    private var busy = false
    private var stopped = false
    private var thread: Thread?

    /// `emptyGrace`: seconds an empty file is left for its writer (the daemon passes `scan.settle_seconds`).
    public init(database: Database, inboxes: [InboxConfig], ignoredSuffixes: [String], archiveRoot: String,
                maxAttempts: Int, emptyGrace: Double = 2, logger: Logger) {
        self.database = database
        self.emptyGrace = emptyGrace
        self.inboxes = inboxes.map(Inbox.init)
        self.filter = InboxFilter(ignoredSuffixes: ignoredSuffixes)
        self.archiveRoot = archiveRoot
        self.maxAttempts = maxAttempts
        self.logger = logger
    }

    // MARK: - Background intake

    /// Starts the worker that ingests submitted paths one at a time.
    public func start() {
        let thread = Thread { [weak self] in self?.loop() }
        thread.name = "pipelined.ingest"
        self.thread = thread
        thread.start()
    }

    /// Queues a path for ingest; a path already queued is not queued twice.
    public func submit(_ path: String) {
        lock.lock()
        if !stopped && pendingSet.insert(path).inserted {
            pending.append(path)
            lock.signal()
        }
        lock.unlock()
    }

    /// Number of paths waiting or being ingested.
    public var backlog: Int {
        lock.lock()
        defer { lock.unlock() }
        return pending.count + (busy ? 1 : 0)
    }

    /// Stops taking new paths; the one in progress finishes. Paths still queued stay in the inbox for next time.
    public func stop() {
        lock.lock()
        stopped = true
        pending.removeAll()
        pendingSet.removeAll()
        lock.broadcast()
        while busy { lock.wait() }
        lock.unlock()
    }

    private func loop() {
        while true {
            lock.lock()
            while (pending.isEmpty || busy) && !stopped { lock.wait() }   // busy: an upload has its turn
            if stopped { lock.unlock(); return }
            let path = pending.removeFirst()
            pendingSet.remove(path)
            busy = true
            lock.unlock()

            do {
                let result = try ingest(path: path)
                log(result, path: path)
            } catch let error as StoreError where error.isTransient {
                // The database is away: the file stays in the inbox and is tried again.
                logger.warning("ingest postponed: database unavailable",
                               metadata: ["path": "\(path)", "error": "\(error)"])
                retryLater(path)
            } catch {
                logger.error("ingest failed; the file stays in the inbox",
                             metadata: ["path": "\(path)", "error": "\(error)"])
                retryLater(path)
            }
            lock.lock()
            busy = false
            lock.broadcast()
            lock.unlock()
        }
    }

    private func retryLater(_ path: String) {
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) { [weak self] in self?.submit(path) }
    }

    private func log(_ result: Result, path: String) {
        switch result {
        case let .created(imageID, jobID, sha):
            logger.info("image ingested", metadata: ["path": "\(path)", "image.id": "\(imageID)",
                                                      "job.id": "\(jobID)", "image.sha256": "\(sha)"])
        case let .duplicate(imageID, sha):
            logger.info("duplicate image: arrival recorded", metadata: ["path": "\(path)", "image.id": "\(imageID)",
                                                                          "image.sha256": "\(sha)"])
        case let .skipped(reason):
            logger.debug("file skipped", metadata: ["path": "\(path)", "reason": "\(reason)"])
        case let .refused(kind, reason, firstReport):
            if firstReport {
                logger.warning("inbox entry refused; it stays in the inbox", metadata: [
                    "path": "\(path)", "kind": "\(kind)", "reason": "\(reason)"])
            }
        }
    }

    // MARK: - One file

    /// Why a path was skipped when it lies in no configured inbox.
    public static let outsideInboxes = "not inside a configured inbox"

    /// Ingests one file synchronously (also used by `pipelined ingest`).
    public func ingest(path rawPath: String) throws -> Result {
        let path = URL(fileURLWithPath: rawPath).standardizedFileURL.path
        guard let (inbox, relative) = locate(path) else { return .skipped(Self.outsideInboxes) }
        guard filter.accepts(relativePath: relative) else { return .skipped("hidden or temporary name") }
        // Sidecars are read with their image, never ingested as images themselves.
        guard !relative.lowercased().hasSuffix(SidecarQueries.suffix) else { return .skipped("sidecar (read with its image)") }
        return try ingest(path: path, inbox: inbox, relative: relative)
    }

    /// An upload (`POST /api/images`): a file written outside every watched inbox, ingested exactly as a dropped one
    /// — hashed, archived, recorded under `inbox` as `originalName`, its sidecar (`path` + `.json`) read, the file
    /// removed — on the ingest thread's turn, so it never runs beside a dropped file's ingest.
    public func ingestUpload(path: String, originalName: String, inbox: InboxConfig) throws -> Result {
        lock.lock()
        while busy && !stopped { lock.wait() }
        guard !stopped else { lock.unlock(); return .skipped("the daemon is stopping") }
        busy = true
        lock.unlock()
        defer {
            lock.lock()
            busy = false
            lock.broadcast()
            lock.unlock()
        }
        return try ingest(path: path, inbox: Inbox(inbox), relative: originalName)
    }

    private func ingest(path: String, inbox: Inbox, relative: String) throws -> Result {

        // Only regular files are opened: opening a FIFO blocks until a writer comes (stopping all intake), and a
        // symbolic link or device would read something that was never dropped here.
        var entry = stat()
        guard lstat(path, &entry) == 0 else {
            if errno == ENOENT { return .skipped("vanished") }
            throw IngestError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if let kind = Self.refusedKind(entry.st_mode) {
            return try refuse(inbox, relative, kind: kind, reason: Self.refusalReason(kind), entry)
        }
        // An empty file's close is rarely the end of it (`touch`, then a second open writes it): taken now, it would
        // be hard-linked into the archive and the writer's bytes would land there. Left while young; its writer's
        // close brings it back, and a scan takes it once it has stayed empty past the grace period.
        let age = Date().timeIntervalSince1970 - (Double(entry.st_mtim.tv_sec) + Double(entry.st_mtim.tv_nsec) / 1e9)
        if entry.st_size == 0, age < emptyGrace {
            return .skipped("empty; left for its writer (taken if still empty after \(emptyGrace) s)")
        }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ENOENT: return .skipped("vanished")
            case ELOOP: return try refuse(inbox, relative, kind: "symlink", reason: Self.refusalReason("symlink"), entry)
            case EACCES, EPERM:
                return try refuse(inbox, relative, kind: "unreadable",
                                  reason: "pipelined may not read it (\(String(cString: strerror(errno)))); fix its permissions and it is taken in at the next scan",
                                  entry)
            default: throw IngestError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
        }
        defer { close(fd) }
        var before = stat()
        fstat(fd, &before)
        if let kind = Self.refusedKind(before.st_mode) {
            return try refuse(inbox, relative, kind: kind, reason: Self.refusalReason(kind), before)
        }
        guard before.st_ino == entry.st_ino, before.st_dev == entry.st_dev else {
            return .skipped("replaced while being opened; the new file is taken on its own event")
        }
        // A writer that paused longer than settle_seconds still holds the file: taking it now would archive half
        // of it. Its close event brings it back whole.
        if case let .some(pid) = OpenWriters.check(fd: fd, info: before) {
            return .skipped("still open for writing\(pid.map { " by pid \($0)" } ?? ""); its close event will bring it")
        }

        let (sha, size, head) = try hash(fd: fd, path: path)
        var after = stat()
        fstat(fd, &after)
        guard after.st_size == before.st_size, after.st_mtim.tv_sec == before.st_mtim.tv_sec,
              after.st_mtim.tv_nsec == before.st_mtim.tv_nsec else {
            return .skipped("changed while being read; its close event will bring it back")
        }
        let format = Self.sniff(head)
        let archiveRelative = Self.archivePath(sha256: sha, format: format)
        let archiveFile = archiveRoot + "/" + archiveRelative
        // A hard link shares the inode: safe only when no other name (another link a writer may still use) exists.
        let createdArchiveFile: Bool
        do {
            createdArchiveFile = try archive(fd: fd, source: path, to: archiveFile, sha256: sha, mayLink: after.st_nlink == 1)
        } catch IngestError.changedWhileCopied {
            return .skipped("changed while being copied; its close event will bring it back")
        }
        let sidecar = readSidecar(path + SidecarQueries.suffix)

        let outcome = try database.recordArrival(
            NewImage(sha256: sha, inbox: inbox.config.name, originalName: relative, archivePath: archiveRelative,
                     byteSize: size, format: format, queries: sidecar?.queries?.json, sidecar: sidecar?.evidence,
                     archiveID: try archiveID()),
            maxAttempts: maxAttempts)
        // The sidecar's content is in the database now (as questions or as evidence of what was wrong with it).
        if sidecar != nil { unlink(path + SidecarQueries.suffix) }

        // Remove the inbox name only if it still is the file we recorded (not something renamed over it since).
        var now = stat()
        if lstat(path, &now) == 0 && now.st_ino == before.st_ino && now.st_dev == before.st_dev {
            unlink(path)
        }
        if let error = sidecar?.error {
            logger.warning("sidecar not used: the image gets its inbox's questions",
                           metadata: ["path": "\(path)\(SidecarQueries.suffix)", "error": "\(error)"])
        }
        switch outcome {
        case let .created(imageID, jobID):
            DaemonMetrics.imageIngested(inbox: inbox.config.name)
            return .created(imageID: imageID, jobID: jobID, sha256: sha)
        case let .duplicate(imageID):
            if sidecar?.queries != nil {
                logger.warning("duplicate image: its sidecar is kept with the arrival but not asked (the image's first arrival decided its questions)",
                               metadata: ["path": "\(path)", "image.id": "\(imageID)"])
            }
            // Known bytes without an archive file were quarantined: their evidence is in quarantine already.
            if createdArchiveFile, try database.imageStatus(imageID) == "quarantined" { unlink(archiveFile) }
            return .duplicate(imageID: imageID, sha256: sha)
        }
    }

    private var cachedArchiveID: String?

    /// The archive's id (created on first use), recorded with each image so only daemons that can read the bytes
    /// claim its job.
    private func archiveID() throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let cachedArchiveID { return cachedArchiveID }
        let id = try ArchiveIdentity.id(of: archiveRoot)
        cachedArchiveID = id
        return id
    }

    /// What an inbox entry is when it is not a regular file (directories are walked, not ingested).
    static func refusedKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFLNK: return "symlink"
        case S_IFIFO: return "fifo"
        case S_IFSOCK: return "socket"
        case S_IFCHR, S_IFBLK: return "device"
        default: return "other"
        }
    }

    static func refusalReason(_ kind: String) -> String {
        switch kind {
        case "symlink": return "a symbolic link: never followed (drop or move the file itself into the inbox)"
        case "fifo": return "a FIFO (named pipe), not a file: never opened"
        case "socket": return "a socket, not a file: never opened"
        case "device": return "a device node, not a file: never opened"
        default: return "not a regular file: never opened"
        }
    }

    /// Reports an entry once (per name, kind and inode) in `failures`; it is left where it is.
    private func refuse(_ inbox: Inbox, _ relative: String, kind: String, reason: String, _ info: stat) throws -> Result {
        let first = try database.recordRefusal(inbox: inbox.config.name, originalName: relative, kind: kind,
                                               reason: reason, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        return .refused(kind: kind, reason: reason, firstReport: first)
    }

    /// The sidecar beside an image, if there is one: its validated questions, or the reason it is unusable; either
    /// way `evidence` (JSON) is what the arrival keeps.
    private func readSidecar(_ path: String) -> (queries: SidecarQueries?, error: String?, evidence: String)? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let data = (try? handle.read(upToCount: SidecarQueries.maxBytes + 1)) ?? Data()
        do {
            let queries = try SidecarQueries.parse(data)
            return (queries, nil, queries.json)
        } catch {
            let raw = String(decoding: data.prefix(4096), as: UTF8.self)
            let json = try? JSONSerialization.data(withJSONObject: ["error": "\(error)", "raw": raw], options: [.sortedKeys])
            let evidence = json.map { String(decoding: $0, as: UTF8.self) } ?? "null"
            return (nil, "\(error)", evidence)
        }
    }

    private func locate(_ path: String) -> (Inbox, String)? {
        for inbox in inboxes {
            if let relative = inbox.relativePath(of: path) { return (inbox, relative) }
        }
        return nil
    }

    private func hash(fd: Int32, path: String) throws -> (String, Int, [UInt8]) {
        var hasher = SHA256()
        var total = 0
        var head: [UInt8] = []
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw IngestError.unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(bufferPointer: bytes)
            if head.count < 16 { head += bytes.prefix(16 - head.count) }
            total += n
        }
        return (Self.hex(hasher.finalize()), total, head)
    }

    /// Puts the bytes at `target`: a hard link when `mayLink` and inbox and archive share a filesystem, else a
    /// read-only copy made durable before it is renamed into place. An existing target already holds these bytes
    /// (same hash). Returns whether this call created it.
    private func archive(fd: Int32, source: String, to target: String, sha256: String, mayLink: Bool) throws -> Bool {
        let dir = (target as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw IngestError.archive(path: target, reason: "\(error)")
        }
        if access(target, F_OK) == 0 { return false }
        if mayLink {
            fsync(fd)
            if link(source, target) == 0 {
                syncDirectory(dir)
                return true
            }
            if errno == EEXIST { return false }
            guard errno == EXDEV || errno == EPERM || errno == EMLINK else {
                throw IngestError.archive(path: target, reason: String(cString: strerror(errno)))
            }
        }
        let temporary = dir + "/.incoming-\(getpid())-\(UUID().uuidString)"
        let out = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o440)
        guard out >= 0 else { throw IngestError.archive(path: temporary, reason: String(cString: strerror(errno))) }
        var ok = true
        lseek(fd, 0, SEEK_SET)
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        while ok {
            let n = read(fd, buffer, chunk)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = n == 0; break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buffer, count: n))
            ok = write(out, buffer, n) == n
        }
        ok = ok && fsync(out) == 0
        close(out)
        // The copy is what the recorded hash vouches for: bytes that changed since they were hashed are not kept.
        if ok && Self.hex(hasher.finalize()) != sha256 {
            unlink(temporary)
            throw IngestError.changedWhileCopied
        }
        guard ok, rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw IngestError.archive(path: target, reason: reason)
        }
        syncDirectory(dir)
        return true
    }

    private func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// The name bytes have in the archive (lowercase hex sha256), for checking what is read back from it.
    public static func sha256(_ data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    /// The container format by magic bytes; the decoder decides whether the content is actually usable.
    static func sniff(_ head: [UInt8]) -> String {
        if head.starts(with: [0xFF, 0xD8]) { return "jpeg" }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "png" }
        return "unknown"
    }

    /// `ab/cd/abcd….ext`: two levels of fan-out keep directories small.
    public static func archivePath(sha256: String, format: String) -> String {
        let ext = ["jpeg": "jpg", "png": "png"][format] ?? "bin"
        let a = sha256.prefix(2), b = sha256.dropFirst(2).prefix(2)
        return "\(a)/\(b)/\(sha256).\(ext)"
    }
}

/// Why a file could not be taken in. The file stays where it is.
public enum IngestError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case archive(path: String, reason: String)
    case changedWhileCopied

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .archive(path, reason): return "cannot write archive file \(path): \(reason) — check the archive directory's space and permissions"
        case .changedWhileCopied: return "the file changed while it was copied into the archive"
        }
    }
}
