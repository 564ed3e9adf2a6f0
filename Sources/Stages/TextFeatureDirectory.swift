import Detector
import Foundation
import Logging

/// Encoded vocabularies kept in a directory (the daemon's `<state>/text-cache`), one file per key, so a restart does
/// not re-encode them. Written whole and renamed into place; the least recently used files beyond `maxFiles` are
/// removed. A file that cannot be read or does not check is simply encoded again (the Detector verifies it).
public final class TextFeatureDirectory: TextFeatureStore, @unchecked Sendable {
    public let path: String
    public let maxFiles: Int
    private let logger: Logger
    private let lock = NSLock()

    public init(path: String, maxFiles: Int = 16, logger: Logger = Logger(label: "pipelined.text-cache")) {
        self.path = path
        self.maxFiles = maxFiles
        self.logger = logger
    }

    private func file(_ key: String) -> String? {
        // Keys are hex digests; anything else never becomes a path.
        guard !key.isEmpty, key.count <= 128, key.allSatisfy(\.isHexDigit) else { return nil }
        return path + "/" + key + ".features"
    }

    public func load(key: String) -> Data? {
        guard let file = file(key) else { return nil }
        lock.lock()
        defer { lock.unlock() }
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        utimes(file, nil)   // recently used: kept when older ones are pruned
        return data
    }

    public func save(key: String, data: Data) {
        guard let file = file(key) else { return }
        lock.lock()
        defer { lock.unlock() }
        let temporary = file + ".tmp-\(getpid())"
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: temporary, contents: data) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
            }
            guard rename(temporary, file) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            logger.info("vocabulary text cached", metadata: ["file": "\(file)", "bytes": "\(data.count)"])
            prune()
        } catch {
            unlink(temporary)
            logger.warning("cannot keep the vocabulary's encoded text; it will be encoded again after a restart",
                           metadata: ["directory": "\(path)", "error": "\(error)"])
        }
    }

    /// Removes the least recently used files beyond `maxFiles`, and temporary files a crash left behind.
    private func prune() {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        func used(_ name: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: path + "/" + name))?[.modificationDate] as? Date) ?? .distantPast
        }
        for name in all where name.contains(".features.tmp-") && Date().timeIntervalSince(used(name)) > 3600 { unlink(path + "/" + name) }
        let names = all.filter { $0.hasSuffix(".features") }
        guard names.count > maxFiles else { return }
        for name in names.sorted(by: { used($0) > used($1) }).dropFirst(maxFiles) { unlink(path + "/" + name) }
    }
}
