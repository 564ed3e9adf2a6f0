import Crypto
import Detector
import Foundation
import Logging
import Pipeline
import Store

/// Takes a labels file whole or not at all. The file is read as an `LVISDataset` and checked on its own (`validate`), then against the database — every
/// image known and decoded, every box inside it, every category in the vocabulary, no image labelled twice in one
/// vocabulary — and stored in one transaction. Either way the attempt is a row of `label_imports`; the file leaves
/// the labels inbox for `archive/labels/` (imported) or `quarantine/labels/` (rejected, the evidence the row points to).
public final class LabelImporter: @unchecked Sendable {
    public struct Outcome: Sendable, Equatable {
        public var importID: Int
        public var imported: Bool
        public var reason: String?
        public var images: Int, annotations: Int
    }

    let database: Database
    let settings: LabelSettings
    let archiveRoot: String, quarantineRoot: String
    let logger: Logger
    private let lock = NSLock()   // one file at a time: the duplicate check and the insert must not interleave

    public init(database: Database, settings: LabelSettings, archiveRoot: String, quarantineRoot: String, logger: Logger) {
        self.database = database
        self.settings = settings
        self.archiveRoot = archiveRoot
        self.quarantineRoot = quarantineRoot
        self.logger = logger
    }

    /// Imports the file at `path` and moves it out of the inbox. `source` is how the attempt is named (the path
    /// relative to the labels inbox). Database outages throw (the file stays where it is, to be retried); everything
    /// wrong with the file itself is an outcome.
    @discardableResult
    public func importFile(_ path: String, source: String) throws -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        // The size is checked before reading: a huge file is refused, not loaded.
        var info = stat()
        guard stat(path, &info) == 0 else { throw LabelError.unreadable("\(path): \(String(cString: strerror(errno)))") }
        let tooLarge = Int(info.st_size) > Self.maxBytes
        guard let data = tooLarge ? Data() : FileManager.default.contents(atPath: path) else {
            throw LabelError.unreadable("\(path): \(String(cString: strerror(errno)))")
        }
        let sha = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let outcome: Outcome
        do {
            // Anything else in the labels inbox (a CSV, a .jsonl, a stray image) is refused, not left to be
            // warned about on every scan.
            guard source.lowercased().hasSuffix(".json") else {
                throw LabelError.invalid("labels files are LVIS/COCO JSON named *.json; this one is not")
            }
            guard !tooLarge else {
                throw LabelError.invalid("the file is \(info.st_size) bytes, over the limit of \(Self.maxBytes)")
            }
            let (vocabularyID, vocabularyName, sets) = try resolve(data)
            do {
                let id = try database.importLabels(source: source, sha256: sha, vocabularyID: vocabularyID, sets: sets)
                outcome = Outcome(importID: id, imported: true, reason: nil, images: sets.count,
                                  annotations: sets.reduce(0) { $0 + $1.boxes.count })
            } catch let StoreError.query(_, sqlState, message, _) where sqlState.hasPrefix("22") || sqlState.hasPrefix("23") || sqlState == "P0001" {
                // A value the server cannot take (22), a constraint (23) or the annotations trigger refused a row:
                // the file's fault, and nothing was stored.
                throw LabelError.invalid("the database refused it: \(message)")
            }
            move(path, to: archiveRoot + "/labels", name: "\(sha.prefix(12))-\((source as NSString).lastPathComponent)")
            logger.info("labels imported", metadata: ["file": "\(source)", "images": "\(outcome.images)",
                                                      "boxes": "\(outcome.annotations)", "import": "\(outcome.importID)"])
            if vocabularyName != settings.vocabulary {
                // Stored and queryable, but the fine-tuner learns from one vocabulary: say so where the user looks.
                logger.warning("these labels are in another vocabulary than the one fine-tuning learns from",
                               metadata: ["file": "\(source)", "vocabulary": "\(vocabularyName)", "labels.vocabulary": "\(settings.vocabulary)"])
            }
        } catch let error as LabelError {
            let evidence = "labels/\(sha.prefix(12))-\((source as NSString).lastPathComponent)"
            let id = try database.recordRejectedLabels(source: source, sha256: sha, reason: error.description, evidencePath: evidence)
            move(path, to: quarantineRoot + "/labels", name: (evidence as NSString).lastPathComponent)
            logger.error("labels rejected", metadata: ["file": "\(source)", "reason": "\(error)", "evidence": "\(evidence)"])
            return Outcome(importID: id, imported: false, reason: error.description, images: 0, annotations: 0)
        }
        return outcome
    }

    /// The file's label sets as rows, or the first reason it cannot be taken.
    func resolve(_ data: Data) throws -> (vocabularyID: Int, vocabulary: String, sets: [LabelSetRow]) {
        let file = try Self.validate(data)
        let vocabularyName = file.vocabulary ?? settings.vocabulary
        guard let vocabulary = try database.latestVocabulary(name: vocabularyName) else {
            throw LabelError.unknownVocabulary("\"\(vocabularyName)\" does not exist (import it with `pipelined vocab import`, or name another with \"vocabulary\")")
        }
        var categoryRows: [Int: Int] = [:]   // the file's id → categories.id
        let byName = Dictionary(vocabulary.categories.map { ($0.name, $0.id!) }, uniquingKeysWith: { a, _ in a })
        for category in file.categories.sorted(by: { $0.id < $1.id }) {
            guard let row = byName[category.name] else {
                throw LabelError.unknownCategory("\"\(category.name)\" is not in vocabulary \(vocabulary.name) v\(vocabulary.version)")
            }
            categoryRows[category.id] = row
        }
        let targets = try database.labelTargets(names: file.images.compactMap { file.sha256s[$0.id] == nil ? file.fileNames[$0.id] : nil },
                                                sha256s: file.images.compactMap { file.sha256s[$0.id] })
        let boxes = Dictionary(grouping: Self.boxes(of: file), by: \.imageID)
        var seenImages = Set<Int>()
        var sets: [LabelSetRow] = []
        for image in file.images {
            // An image with no box and no negative category says nothing (LVIS files have such images); it is not
            // stored, so it stays free to be labelled later.
            let negatives = file.listedNegatives[image.id] ?? []
            guard boxes[image.id] != nil || !negatives.isEmpty else { continue }
            let key = Self.key(of: image.id, in: file) ?? "?"
            guard let target = targets[key] else {
                throw LabelError.unknownImage("\(key) has not arrived in any inbox (name it as it arrived, relative to its inbox, or by sha256)")
            }
            guard target.status != "quarantined" else { throw LabelError.unknownImage("\(key) was quarantined: it is not an image the daemon can use") }
            guard let width = target.width, let height = target.height else {
                throw LabelError.notReady("image \(key) is not decoded yet, so its boxes cannot be checked; drop the file again once it is processed")
            }
            if let size = file.sizes[image.id], size.width != width || size.height != height {
                throw LabelError.invalid("image \(key) is \(width)×\(height), but the file says \(size.width)×\(size.height)")
            }
            guard seenImages.insert(target.imageID).inserted else { throw LabelError.duplicate("\(key) is the same image as another entry of the file") }
            guard !target.labelledIn.contains(vocabulary.id) else {
                throw LabelError.duplicate("image \(key) already has labels in vocabulary \(vocabulary.name)")
            }
            var rows: [LabelSetRow.Box] = []
            for box in boxes[image.id] ?? [] {
                let b = box.bbox
                guard b.x + b.w <= Double(width) + 0.5, b.y + b.h <= Double(height) + 0.5 else {
                    throw LabelError.outside("annotations[\(box.position)].bbox \(box.numbers) ends outside image \(key) (\(width)×\(height))")
                }
                rows.append(.init(categoryID: box.categoryID.flatMap { categoryRows[$0] }, spans: box.spans, x: b.x, y: b.y, w: b.w, h: b.h))
            }
            sets.append(LabelSetRow(imageID: target.imageID, negativeIDs: negatives.compactMap { categoryRows[$0] },
                                    notExhaustiveIDs: image.notExhaustiveCategories.sorted().compactMap { categoryRows[$0] },
                                    caption: file.captions[image.id], split: settings.split(sha256: target.sha256), boxes: rows))
        }
        return (vocabulary.id, vocabulary.name, sets)
    }

    /// Moves the file out of the inbox (rename; copy and unlink across filesystems). A failure is logged: the
    /// database already says what happened to the file.
    private func move(_ path: String, to directory: String, name: String) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let target = directory + "/" + name
            if rename(path, target) != 0 {
                if FileManager.default.fileExists(atPath: target) { try FileManager.default.removeItem(atPath: target) }
                try FileManager.default.copyItem(atPath: path, toPath: target)
                try FileManager.default.removeItem(atPath: path)
            }
        } catch {
            logger.error("cannot move labels file out of the inbox", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }
}

extension LabelImporter: LabelFileImporter {
    public func importLabels(at path: String, source: String) throws { try importFile(path, source: source) }

    /// The daemon's importer: the labels settings, archive and quarantine of its configuration.
    public static let daemonFactory: LabelImporterFactory = { database, config, logger in
        LabelImporter(database: database, settings: config.labels, archiveRoot: config.archiveRoot,
                      quarantineRoot: config.quarantineRoot, logger: logger)
    }
}
