import Detector
import Foundation
import Pipeline
import Store

/// The model a new user gets (issue 5): EfficientNet-Lite0 and MiniLM-L6 from their pip packages plus a cross-modal
/// transformer and heads trained here on the synthetic benchmark, whose files (`model.safetensors`, `manifest.json`,
/// `vocab.txt`, `vocabulary.json`, `MODEL_CARD.md`) live in `Sources/pipelined/DefaultModel`. Looked for in
/// `PIPELINED_DEFAULT_MODEL`, then `/usr/share/pipelined/default-model`, then the source tree this binary was built
/// from (what `tools/setup.sh run` uses).
enum DefaultModel {
    static let vocabularyName = "default-model"

    static var directory: String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["PIPELINED_DEFAULT_MODEL"], !env.isEmpty { candidates.append(env) }
        candidates.append("/usr/share/pipelined/default-model")
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DefaultModel").path)
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/manifest.json") }
    }

    /// The model a one-shot command uses: the one given, else PIPELINED_MODEL, else `configured`, else the default.
    static func resolve(_ given: String?, configured: String? = nil) -> String? {
        given ?? ProcessInfo.processInfo.environment["PIPELINED_MODEL"] ?? configured ?? directory
    }

    /// `model.path = "none"` (or PIPELINED_MODEL=none) turns the default off.
    static func isDisabled(_ config: Config) -> Bool { config.modelPath == "none" }

    /// Imports the model's own vocabulary (the categories it was trained on) once, and has every inbox without a
    /// vocabulary queried with it.
    static func applyVocabulary(_ directory: String, to config: Config, database: Database) throws -> Config {
        let file = directory + "/vocabulary.json"
        guard FileManager.default.fileExists(atPath: file) else { return config }
        if try database.latestVocabulary(name: vocabularyName) == nil {
            let (categories, source) = try VocabCommand.Import.parse(file)
            _ = try database.importVocabulary(name: vocabularyName, source: source, categories: categories)
        }
        var config = config
        config.inboxes = config.effectiveInboxes.map { inbox in
            var inbox = inbox
            if inbox.vocabulary == nil { inbox.vocabulary = vocabularyName }
            return inbox
        }
        return config
    }
}
