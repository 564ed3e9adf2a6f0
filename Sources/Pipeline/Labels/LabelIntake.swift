import Foundation
import Logging
import Store

/// What the labels inbox hands each file to. The importer lives in Stages: it reads LVIS/COCO through the Detector's
/// one dataset type, which the Pipeline — no model knowledge — does not import.
public protocol LabelFileImporter: Sendable {
    /// Imports the file (or refuses it, keeping the evidence) and moves it out of the inbox. Throws only when the
    /// file must stay to be retried (the database is unreachable).
    func importLabels(at path: String, source: String) throws
}

/// Makes the daemon's importer from its database and the running configuration.
public typealias LabelImporterFactory = @Sendable (Database, Config, Logger) -> any LabelFileImporter

/// The labels inbox's worker: files the watcher reports are imported one at a time, off the watcher's thread. When
/// the database is unreachable the file stays in the inbox and the next scan offers it again.
public final class LabelIntake: @unchecked Sendable {
    let importer: any LabelFileImporter
    let root: String
    let logger: Logger
    private let queue = DispatchQueue(label: "pipelined.labels", qos: .utility)
    private let lock = NSLock()
    private var pending = Set<String>()

    public init(importer: any LabelFileImporter, root: String, logger: Logger) {
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
                try importer.importLabels(at: path, source: String(path.dropFirst(root.count + 1)))
            } catch {
                logger.error("labels file not imported yet; it stays in the inbox and is retried on the next scan",
                             metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }

    /// Waits for the file being imported, if any.
    public func stop() { queue.sync {} }
}
