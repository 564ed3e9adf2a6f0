import Crypto
import Detector
import Foundation
import Stages
import Store

enum FetchError: Error, CustomStringConvertible {
    case unknownModel(String, known: [String])
    case catalog(path: String, reason: String)
    case busy(model: String, lock: String)
    /// The download is not what the catalog promised; it has been removed so the next run starts afresh.
    case refused(file: String, reason: String)

    var description: String {
        switch self {
        case let .unknownModel(name, known):
            return "no model '\(name)' in the catalog\(closest(to: name, among: known, within: 3).map { " — did you mean '\($0)'?" } ?? "")"
                + ". Known: \(known.joined(separator: ", ")) (`pipelined model fetch --list`)"
        case let .catalog(path, reason): return "catalog \(path) \(reason)"
        case let .busy(model, lock): return "another `pipelined model fetch \(model)` is running (\(lock)); wait for it to finish"
        case let .refused(file, reason):
            return "refused \(file): \(reason). Removed, so running the command again downloads it afresh"
        }
    }
}

/// Brings one catalog entry onto this machine as an imported model directory: downloads (resumable) the checkpoint and
/// its tokenizer files into `<state>/downloads/<name>/`, checks them (published size and sha256 when the catalog has
/// them, every zip entry's CRC-32, the network its `args` describe, the restricted unpickler and a full load with a
/// tokenizer probe), then imports them into `<state>/models/<name>-<version>`. Registration is the caller's.
struct ModelFetcher {
    var entry: ModelCatalog.Entry
    var stateDirectory: String
    var retries = 5
    var log: (String) -> Void

    var downloads: String { stateDirectory + "/downloads/" + entry.name }

    /// The model directory, its manifest, and the downloaded checkpoint (the caller removes it once the model is
    /// registered: a failed registration must not cost the download).
    func fetch() throws -> (directory: String, manifest: ModelPackage.Manifest, checkpoint: String) {
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        guard let lock = try FileLock.tryLock(downloads + "/.lock", .exclusive) else {
            throw FetchError.busy(model: entry.name, lock: downloads + "/.lock")
        }
        defer { _ = lock }
        let companions = try entry.companions.map { try download($0, showProgress: false).path }
        try verifyTokenizer(companions)
        let (checkpoint, url) = try download(entry.checkpoint, showProgress: true)
        try verify(checkpoint)

        log("importing \(entry.checkpoint.name)")
        let staging = stateDirectory + "/models/.importing-\(entry.name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        let manifest: ModelPackage.Manifest
        do {
            manifest = try ModelPackage.importCheckpoint(checkpoint, into: staging, name: entry.name, sourceURL: url)
            // The whole model as the daemon will load it, tokenizer probe included: a model that imports but cannot
            // run is refused here, not when the first image arrives.
            _ = try ModelPackage.load(staging)
        } catch let error as DetectorError {
            // Token ids beyond the checkpoint's embeddings: the tokenizer files are the wrong ones (and the small ones).
            if case .tokenizerMismatch = error { throw refuse(companions, "\(error)") }
            throw refuse([checkpoint], "\(error)")
        } catch let error as WeightsError {
            throw refuse([checkpoint], "\(error)")
        } catch let error as TokenizerError {
            throw refuse(companions, "\(error)")
        }
        let directory = stateDirectory + "/models/\(entry.name)-\(manifest.version)"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.moveItem(atPath: staging, toPath: directory)
        return (directory, manifest, checkpoint)
    }

    /// One file into the downloads directory (kept when complete, resumed when partial); its path and source URL.
    private func download(_ file: ModelCatalog.File, showProgress: Bool) throws -> (path: String, url: String) {
        let path = downloads + "/" + file.name
        let sourcePath = path + ".source"
        if FileManager.default.fileExists(atPath: path) {
            log("\(file.name) already downloaded")
        } else {
            let bar = ProgressBar(total: Int(file.bytes ?? entry.approximateBytes ?? 1), label: file.name, enabled: showProgress, unit: .bytes)
            var lastLine = Date()
            var download = HTTPDownload(urls: file.urls, destination: path)
            download.retries = retries
            // The import writes float32 weights beside the checkpoint: at most about as much again.
            download.reserve = { total in showProgress ? total / 2 : 0 }
            download.log = log
            download.progress = { received, total in
                bar.update(done: Int(received), total: total.map(Int.init))
                if showProgress, !bar.isVisible, Date().timeIntervalSince(lastLine) >= 10 {
                    lastLine = Date()
                    log("\(file.name): \(DownloadError.bytes(received))\(total.map { " of \(DownloadError.bytes($0))" } ?? "")")
                }
            }
            log("downloading \(file.name) from \(file.urls[0])")
            let url = try download.run()
            if showProgress { bar.finish() }
            try url.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        }
        try check(file, at: path)
        let url = (try? String(contentsOfFile: sourcePath, encoding: .utf8)) ?? file.urls[0]
        return (path, url)
    }

    /// What the catalog publishes about the file: its size and sha256.
    private func check(_ file: ModelCatalog.File, at path: String) throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1
        if let bytes = file.bytes, size != bytes {
            throw refuse([path], "\(size) bytes, the catalog says \(bytes)")
        }
        if let expected = file.sha256?.lowercased() {
            let actual = try ModelPackage.sha256(file: path)
            guard actual == expected else { throw refuse([path], "sha256 \(actual), the catalog says \(expected)") }
        }
    }

    /// Tokenizer files that do not parse are refused before the big download starts.
    private func verifyTokenizer(_ files: [String]) throws {
        let named = { (name: String) in files.first { $0.hasSuffix("/" + name) } }
        do {
            if let vocab = named("vocab.json"), let merges = named("merges.txt") {
                _ = try ByteLevelBPETokenizer(vocabFile: vocab, mergesFile: merges)
            } else if let vocab = named("vocab.txt") {
                _ = try WordPieceTokenizer(vocabFile: vocab)
            }
        } catch {
            throw refuse(files, "\(error)")
        }
    }

    /// What the file can vouch for itself, before the long import: CRC-32s, then the network its `args` describe.
    private func verify(_ checkpoint: String) throws {
        do {
            try TorchCheckpoint.verifyIntegrity(path: checkpoint)
            guard let args = try TorchCheckpoint(path: checkpoint).args else {
                throw refuse([checkpoint], "it has no 'args', so it is not an MDETR training checkpoint")
            }
            let backbone = args["backbone"]?.string
            let text = args["text_encoder_type"]?.string ?? "roberta-base"
            if let expected = entry.backbone, backbone != expected {
                throw refuse([checkpoint], "its args describe backbone \(backbone ?? "none"), \(entry.name) is \(expected)")
            }
            if let expected = entry.textEncoder, text != expected {
                throw refuse([checkpoint], "its args describe text encoder \(text), \(entry.name) uses \(expected)")
            }
        } catch let error as WeightsError {
            throw refuse([checkpoint], "\(error)")
        }
    }

    private func refuse(_ paths: [String], _ reason: String) -> FetchError {
        for path in paths {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".source")
        }
        return .refused(file: paths.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: " and "), reason: reason)
    }
}
