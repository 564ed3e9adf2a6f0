import Foundation
import Store

/// One daemon per state directory: its archive, quarantine, crash journal and embedded cluster are not made to be
/// shared. A second daemon would adopt the first one's database and stop it on its way out.
enum StateDirectoryLock {
    struct InUse: Error, CustomStringConvertible {
        let directory: String
        let holder: String
        var description: String {
            "state directory \(directory) in use by \(holder.isEmpty ? "another process" : "pid \(holder)"): one daemon per state directory (give this one its own state_directory)"
        }
    }

    /// Takes `<state>/pipelined.lock` exclusively for the life of the process, or throws `InUse`.
    static func acquire(_ directory: String) throws -> FileLock {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.lockFile(path: directory, reason: "\(error)")
        }
        let path = directory + "/pipelined.lock"
        guard let lock = try FileLock.tryLock(path, .exclusive) else {
            throw InUse(directory: directory, holder: FileLock.recorded(path))
        }
        lock.record("\(getpid())\n")
        return lock
    }
}
