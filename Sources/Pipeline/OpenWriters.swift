import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether some process still holds a file open for writing: a writer that pauses longer than `settle_seconds`
/// must not have its half-written file taken (its close event brings the whole file later).
///
/// First choice is a read lease (`F_SETLEASE`), which the kernel grants only when nobody has the file open for
/// writing; it needs the file's owner or CAP_LEASE (the systemd unit grants it). Otherwise every process's open
/// descriptors are looked up in /proc — complete for processes this one may see.
enum OpenWriters {
    enum Answer: Equatable { case none, some(pid: Int32?), unknown }

    /// F_LINUX_SPECIFIC_BASE + 0 (<linux/fcntl.h>); Glibc exposes it only under _GNU_SOURCE.
    private static let setLease: Int32 = 1024

    /// A lease break is signalled with SIGIO, whose default action ends the process. The lease is released at once
    /// after it is granted, so the notification carries nothing this process needs.
    private static let ignoreLeaseBreaks: Void = { signal(SIGIO, SIG_IGN) }()

    /// `fd` must be open read-only on the file whose `stat` is `info`.
    static func check(fd: Int32, info: stat) -> Answer {
        _ = ignoreLeaseBreaks
        if fcntl(fd, setLease, F_RDLCK) == 0 {
            _ = fcntl(fd, setLease, F_UNLCK)
            return .none
        }
        if errno == EAGAIN || errno == EBUSY { return .some(pid: nil) }
        return scanProc(device: info.st_dev, inode: info.st_ino)
    }

    /// Looks for a descriptor on (device, inode) opened for writing by any visible process.
    static func scanProc(device: UInt, inode: UInt) -> Answer {
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return .unknown }
        let me = getpid()
        for entry in pids {
            guard let pid = Int32(entry), pid != me else { continue }
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
            for fd in fds {
                var target = stat()
                guard stat("/proc/\(pid)/fd/\(fd)", &target) == 0, target.st_ino == inode, target.st_dev == device
                else { continue }
                if openedForWriting(pid: pid, fd: fd) { return .some(pid: pid) }
            }
        }
        return .none
    }

    /// `flags:` in /proc/PID/fdinfo/FD is octal; the access mode is its low two bits.
    private static func openedForWriting(pid: Int32, fd: String) -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8) else { return false }
        for line in info.split(separator: "\n") where line.hasPrefix("flags:") {
            guard let flags = Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) else { return false }
            return flags & Int(O_ACCMODE) != Int(O_RDONLY)
        }
        return false
    }
}
