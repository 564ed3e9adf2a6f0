import ArgumentParser
import Detector
import Foundation
import Pipeline
import Store

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Import, list, promote and roll back models.",
                                                    subcommands: [Import.self, List.self, Promote.self, Rollback.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn an official .pth checkpoint into safetensors + manifest (with sha256) and register it.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The checkpoint.") var checkpoint: String
        @Option(name: .long, help: "Model name (default: the file name).") var name: String?
        @Option(name: .long, help: "Output directory (default: <state>/models/<name>-<version>).") var output: String?
        @OptionGroup var checkpointOptions: CheckpointOptions
        @Flag(name: .customLong("no-register"), help: "Do not record the model in PostgreSQL.") var noRegister = false

        func run() throws {
            let name = self.name ?? URL(fileURLWithPath: checkpoint).deletingPathExtension().lastPathComponent
            let (config, _) = try options.load()
            let staging = output ?? config.stateDirectory + "/models/.importing-\(getpid())"
            let manifest = try ModelPackage.importCheckpoint(checkpoint, into: staging, name: name,
                                                             options: try checkpointOptions.packageOptions)
            var directory = staging
            if output == nil {
                directory = config.stateDirectory + "/models/\(name)-\(manifest.version)"
                try? FileManager.default.removeItem(atPath: directory)
                try FileManager.default.moveItem(atPath: staging, toPath: directory)
            }
            print("imported \(name) version \(manifest.version) into \(directory)")
            print("weights sha256 \(manifest.weightsSHA256) (source \(manifest.sourceSHA256), \(manifest.sourceStateDict))")
            guard !noRegister else { return }
            let configJSON = String(decoding: try JSONEncoder().encode(manifest.config), as: UTF8.self)
            let id = try options.withDatabase { _, _, database in
                try database.registerModel(NewModel(name: name, version: manifest.version, weightsSHA256: manifest.weightsSHA256,
                                                    configJSON: configJSON, path: URL(fileURLWithPath: directory).standardizedFileURL.path))
            }
            print("registered as model \(id)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every model version with its status, parent and metrics (the model_lineage view).")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let models = try options.withDatabase(readOnly: true) { _, _, database in try database.models() }
            if models.isEmpty { print("no models registered") } else {
                print(["id", "model", "status", "created", "parent", "AP / APr", "why"].joined(separator: "\t"))
            }
            let byID = Dictionary(uniqueKeysWithValues: models.map { ($0.id, $0) })
            for m in models {
                let metrics = (try? JSONSerialization.jsonObject(with: Data(m.metricsJSON.utf8))) as? [String: Any] ?? [:]
                let ap = ["AP", "APr"].compactMap { k in (metrics[k] as? Double).map { "\(k) \(String(format: "%.4f", $0))" } }
                let parent = m.parentID.flatMap { byID[$0] }.map { "from \($0.label)" }
                // Every column always present (a dash when empty), so the header lines up and `cut` works.
                print([String(m.id), m.label, m.status, m.createdAt, parent ?? "-", ap.isEmpty ? "-" : ap.joined(separator: " "),
                       m.statusReason ?? "-"].joined(separator: "\t"))
            }
        }
    }

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a model version the active one (the running daemon switches between jobs); the active one is retired.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The model: id, name@version or version (see `pipelined model list`).") var model: String
        @Option(name: .long, help: "Why (kept in the lineage).") var reason = "promoted by an operator"

        func run() throws {
            let promoted = try options.withDatabase { _, _, database -> ModelRecord in
                guard let m = try database.model(named: model) else { throw ModelStatusError.noSuchModel(model) }
                guard m.path != nil else { throw ValidationError("\(m.label) has no model directory on record, so the daemon could not load it") }
                try database.promoteModel(id: m.id, reason: reason)
                return m
            }
            print("\(promoted.label) is now active")
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put the active model's parent back; the active one is retired.")
        @OptionGroup var options: CommonOptions
        @Option(name: .long, help: "Why (kept in the lineage).") var reason = "rolled back by an operator"

        func run() throws {
            let now = try options.withDatabase { _, _, database in try database.rollbackModel(reason: reason) }
            print("\(now.label) is active again")
        }
    }
}
