import Foundation
import Logging

/// The labels inbox's worker: files the watcher reports are imported one at a time, off the watcher's thread. When
/// the database is unreachable the file stays in the inbox and the next scan offers it again.
public final class LabelIntake: @unchecked Sendable {
    let importer: LabelImporter
    let root: String
    let logger: Logger
    private let queue = DispatchQueue(label: "pipelined.labels", qos: .utility)
    private let lock = NSLock()
    private var pending = Set<String>()

    public init(importer: LabelImporter, root: String, logger: Logger) {
        self.importer = importer
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        self.logger = logger
    }

    /// True when `path` lies in the labels inbox.
    public func owns(_ path: String) -> Bool { path.hasPrefix(root + "/") }

    public func submit(_ path: String) {
        lock.lock()
        let fresh = pending.insert(path).inserted
        lock.unlock()
        guard fresh else { return }
        queue.async { [self] in
            defer { lock.lock(); pending.remove(path); lock.unlock() }
            guard FileManager.default.fileExists(atPath: path) else { return }
            do {
                try importer.importFile(path, source: String(path.dropFirst(root.count + 1)))
            } catch {
                logger.error("labels file not imported yet; it stays in the inbox and is retried on the next scan",
                             metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }

    /// Waits for the file being imported, if any.
    public func stop() { queue.sync {} }
}
