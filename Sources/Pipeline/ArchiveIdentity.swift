import Foundation

/// Names an archive directory: a random id kept in its `.archive-id` file. Daemons that share the directory (a
/// shared mount) read the same id and may run each other's jobs; a daemon with an archive of its own claims only
/// the jobs whose bytes it holds, so no job fails or is discarded because its bytes live on another host.
public enum ArchiveIdentity {
    public static func id(of archiveRoot: String) throws -> String {
        let path = archiveRoot + "/.archive-id"
        if let existing = read(path) { return existing }
        do {
            try FileManager.default.createDirectory(atPath: archiveRoot, withIntermediateDirectories: true)
        } catch {
            throw IngestError.archive(path: archiveRoot, reason: "\(error)")
        }
        // Written under a temporary name and linked into place: two daemons starting on one shared archive at once
        // agree on whichever id got there first.
        let fresh = UUID().uuidString.lowercased()
        let temporary = archiveRoot + "/.archive-id-\(getpid())-\(fresh)"
        guard FileManager.default.createFile(atPath: temporary, contents: Data((fresh + "\n").utf8), attributes: [.posixPermissions: 0o444]) else {
            throw IngestError.archive(path: temporary, reason: "cannot create")
        }
        defer { unlink(temporary) }
        if link(temporary, path) != 0 && errno != EEXIST {
            throw IngestError.archive(path: path, reason: String(cString: strerror(errno)))
        }
        guard let id = read(path) else { throw IngestError.archive(path: path, reason: "unreadable archive id") }
        return id
    }

    private static func read(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }
}
