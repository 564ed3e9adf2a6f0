import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An advisory lock (flock(2)) on a file, held until `release()` or the process's death — the kernel drops it
/// when the last descriptor closes, so a killed holder never leaves a stale lock. The descriptor is close-on-exec:
/// a child (the postmaster that `pg_ctl` leaves behind) must not inherit and keep it.
public final class FileLock: @unchecked Sendable {
    public enum Mode: Sendable { case shared, exclusive }

    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Takes the lock without waiting; nil when another process holds a conflicting one.
    public static func tryLock(_ path: String, _ mode: Mode) throws -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw StoreError.lockFile(path: path, reason: String(cString: strerror(errno))) }
        if flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 { return FileLock(path: path, fd: fd) }
        let err = errno
        close(fd)
        guard err == EWOULDBLOCK else { throw StoreError.lockFile(path: path, reason: String(cString: strerror(err))) }
        return nil
    }

    /// Changes a held lock's mode without waiting. False when another holder conflicts — and then, on Linux, this
    /// process holds no lock at all any more (flock(2) drops the old lock before it tries the new one).
    public func tryConvert(to mode: Mode) -> Bool {
        fd >= 0 && flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0
    }

    /// Writes `text` (e.g. the holder's pid) into the lock file for whoever finds it taken.
    public func record(_ text: String) {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        let bytes = Array(text.utf8)
        _ = pwrite(fd, bytes, bytes.count, 0)
    }

    /// What the holder recorded.
    public static func recorded(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func release() {
        guard fd >= 0 else { return }
        close(fd)   // drops the lock
        fd = -1
    }

    deinit { release() }
}
