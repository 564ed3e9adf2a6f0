import Detector
import Foundation
import Pipeline
import Store

/// The model a new user gets: EfficientNet-Lite0 and MiniLM-L6 from their pip packages plus DetCLIPv2's pyramid, head
/// and concept projection trained here on the synthetic benchmark, whose files (`model.safetensors`, `manifest.json`,
/// `vocab.txt`, `vocabulary.json`, `MODEL_CARD.md`) live in `Sources/pipelined/DefaultModel`; beside it in `grounding/`
/// an MDETR model on the same parts and data, which answers caption sidecars (modulated grounding: "the red star left
/// of the blue ring") when the default model runs. Looked for in
/// `PIPELINED_DEFAULT_MODEL`, then the data directories `tools/install_pretrained.sh` fills
/// (`~/.local/share/pipelined`, `/usr/local/share/pipelined`, `/usr/share/pipelined`), then the source tree this
/// binary was built from.
enum DefaultModel {
    static let vocabularyName = "default-model"

    static var directory: String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["PIPELINED_DEFAULT_MODEL"], !env.isEmpty { candidates.append(env) }
        candidates += dataDirectories.map { $0 + "/default-model" }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DefaultModel").path)
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/manifest.json") }
    }

    /// The default MDETR model for caption sidecars, next to the default model.
    static var groundingDirectory: String? {
        directory.map { $0 + "/grounding" }.flatMap { FileManager.default.fileExists(atPath: $0 + "/manifest.json") ? $0 : nil }
    }

    /// Where `tools/install_pretrained.sh` (run by `tools/setup.sh`) puts the default model and its pretrained parts:
    /// the user's data directory, then the system's.
    static var dataDirectories: [String] {
        let environment = ProcessInfo.processInfo.environment
        var out: [String] = []
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { out.append(xdg + "/pipelined") }
        else if let home = environment["HOME"], !home.isEmpty { out.append(home + "/.local/share/pipelined") }
        return out + ["/usr/local/share/pipelined", "/usr/share/pipelined"]
    }

    /// The pretrained files the default model's manifest names through environment variables, where the set-up
    /// installs them: a variable already set wins.
    static let pretrained = [
        ("PIPELINED_LITE0_WEIGHTS", "pretrained/efficientnet-lite0-57934424.pth", "efficientnet-lite0-57934424.pth"),
        ("PIPELINED_MINILM_DIR", "pretrained/all-MiniLM-L6-v2", "all-MiniLM-L6-v2/model.safetensors"),
    ]

    /// Sets each unset variable of `pretrained` to the installed file, so that the binary finds the default model's
    /// parts from a bare environment (a service, `env -i`). Called first thing in `main`.
    static func locatePretrainedParts() {
        for (variable, relative, _) in pretrained where (ProcessInfo.processInfo.environment[variable] ?? "").isEmpty {
            if let found = dataDirectories.map({ $0 + "/" + relative }).first(where: { FileManager.default.fileExists(atPath: $0) }) {
                setenv(variable, found, 1)
            }
        }
    }

    /// Throws, naming every missing file and the fix, when the model at `path` names pretrained parts through
    /// environment variables that are not set (the default model before `tools/install_pretrained.sh` ran).
    static func checkPretrainedParts(for path: String) throws {
        guard let manifest = try? String(contentsOfFile: path + "/manifest.json", encoding: .utf8),
              pretrained.contains(where: { manifest.contains("${\($0.0)}") }),
              let missing = missingPretrainedParts() else { return }
        throw CommandFailure(missing)
    }

    /// Why the default model cannot load yet, naming every missing file and the command that installs it; nil when
    /// nothing is missing.
    static func missingPretrainedParts() -> String? {
        let missing = pretrained.filter { (ProcessInfo.processInfo.environment[$0.0] ?? "").isEmpty }
        guard !missing.isEmpty else { return nil }
        return "the default model is built on pretrained files that are not installed: \(missing.map(\.2).joined(separator: ", ")) (looked in \(dataDirectories.map { $0 + "/pretrained" }.joined(separator: ", "))). Install them with tools/install_pretrained.sh (tools/setup.sh runs it; as root it installs for the system), or set \(missing.map(\.0).joined(separator: ", "))"
    }

    /// The model a one-shot command uses: the one given, else PIPELINED_MODEL, else `configured`, else the default.
    static func resolve(_ given: String?, configured: String? = nil) -> String? {
        given ?? ProcessInfo.processInfo.environment["PIPELINED_MODEL"] ?? configured ?? directory
    }

    /// `model.path = "none"` (or PIPELINED_MODEL=none) turns the default off.
    static func isDisabled(_ config: Config) -> Bool { config.modelPath == "none" }

    /// The vocabulary a model was trained on: `vocabulary.json` in its directory, or in its parent's (a fine-tuned
    /// version knows what it was tuned from), imported once — as "default-model" for the default model, else under
    /// the model's name. nil for a model without one (an official MDETR checkpoint).
    static func ownVocabulary(path: String, modelID: Int, database: Database) throws -> String? {
        var directory: String? = path
        var id: Int? = modelID
        var seen: Set<Int> = []
        while let dir = directory {
            let file = dir + "/vocabulary.json"
            if FileManager.default.fileExists(atPath: file) {
                let manifest = try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))) as? [String: Any]
                let model = manifest?["name"] as? String ?? URL(fileURLWithPath: dir).lastPathComponent
                let name = model == "default" ? vocabularyName : model
                if try database.latestVocabulary(name: name) == nil {
                    let (categories, source) = try VocabCommand.Import.parse(file)
                    _ = try database.importVocabulary(name: name, source: source, categories: categories)
                }
                return name
            }
            guard let current = id, seen.insert(current).inserted, let parent = try database.model(id: current)?.parentID,
                  let record = try database.model(id: parent) else { return nil }
            directory = record.path
            id = parent
        }
        return nil
    }
}
