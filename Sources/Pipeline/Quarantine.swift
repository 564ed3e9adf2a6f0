import Foundation

/// Moves rejected bytes out of the archive into the quarantine folder, where a person can look at them.
/// The file keeps its original name (prefixed with its hash, so two different bad files named alike both survive).
struct Quarantine {
    let archiveRoot: String
    let quarantineRoot: String

    /// The quarantine path relative to the quarantine root.
    func relativePath(sha256: String, originalName: String) -> String {
        let base = (originalName as NSString).lastPathComponent
        return "\(sha256.prefix(12))-\(base)"
    }

    /// Links the archive file into quarantine. Idempotent: a retry after a crash finds the link already there.
    /// The archive copy is removed by `finish` only after the database recorded the quarantine.
    func place(archivePath: String, as relative: String) throws {
        try FileManager.default.createDirectory(atPath: quarantineRoot, withIntermediateDirectories: true)
        let source = archiveRoot + "/" + archivePath
        let target = quarantineRoot + "/" + relative
        if access(target, F_OK) == 0 { return }
        if link(source, target) == 0 { return }
        if errno == ENOENT && access(target, F_OK) == 0 { return }
        guard errno == EXDEV || errno == EPERM else {
            throw IngestError.archive(path: target, reason: String(cString: strerror(errno)))
        }
        try FileManager.default.copyItem(atPath: source, toPath: target)
    }

    func finish(archivePath: String) {
        unlink(archiveRoot + "/" + archivePath)
    }
}
