import ArgumentParser
import Detector
import Foundation
import Pipeline
import Store

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Import, list, promote and roll back models.",
                                                    subcommands: [Import.self, Fetch.self, List.self, Promote.self, Rollback.self])

    /// Records an imported model directory in PostgreSQL; its id.
    static func register(_ manifest: ModelPackage.Manifest, directory: String, in database: Database) throws -> Int {
        let configJSON = String(decoding: try JSONEncoder().encode(manifest.config), as: UTF8.self)
        return try database.registerModel(NewModel(name: manifest.name, version: manifest.version, weightsSHA256: manifest.weightsSHA256,
                                                   configJSON: configJSON, path: URL(fileURLWithPath: directory).standardizedFileURL.path))
    }

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
            let id = try options.withDatabase { _, _, database in try ModelCommand.register(manifest, directory: directory, in: database) }
            print("registered as model \(id)")
        }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download an official MDETR checkpoint (or one from --catalog), check it, import and register it.",
            discussion: """
                Downloads resume where an interrupted run stopped (run the same command again). Proxies: https_proxy, \
                http_proxy, ALL_PROXY and no_proxy are honoured. The checkpoint is checked (published size and sha256 when \
                known, the CRC-32 of every entry, the network its args describe, a full load) before it is imported into \
                <state>/models and registered; the downloaded .pth is then removed unless --keep-download.
                """)
        @OptionGroup var options: CommonOptions
        @Argument(help: "The model (see --list): mdetr-r101, mdetr-enb3, mdetr-enb5, lvis1, lvis10, lvis100.") var name: String?
        @Flag(name: .long, help: "List the models that can be fetched.") var list = false
        @Flag(name: .long, help: "Make it the daemon's model once registered (the running daemon switches between jobs).")
        var activate = false
        @Option(name: .long, help: "A JSON catalog of models to use instead of the built-in one.") var catalog: String?
        @Option(name: .long, help: "Fetch every file from this base URL instead (a local mirror of the published files).")
        var mirror: String?
        @Option(name: .long, help: "Automatic resumptions after a dropped connection or a server error.") var retries = 5
        @Flag(name: .customLong("keep-download"), help: "Keep the downloaded checkpoint after the import.") var keepDownload = false
        @Flag(name: .long, help: "Download and import again even if this model is already registered.") var force = false

        func run() throws {
            var catalog = try self.catalog.map(ModelCatalog.load(file:)) ?? .builtIn
            if let mirror { catalog = catalog.mirrored(at: mirror) }
            guard let name, !list else {
                print(["model", "size", "what it is"].joined(separator: "\t"))
                for e in catalog.models {
                    let size = e.approximateBytes.map { String(format: "%.1f GB", Double($0) / 1e9) } ?? "-"
                    print([e.name, size, e.description].joined(separator: "\t"))
                }
                return
            }
            guard let entry = catalog.entry(name) else { throw FetchError.unknownModel(name, known: catalog.models.map(\.name)) }
            let (config, _) = try options.load()
            let log = { (line: String) in FileHandle.standardError.write(Data((line + "\n").utf8)) }
            // Fetched before: a version of that name with no parent (fine-tuned descendants keep the name).
            if !force, let known = try? options.withDatabase(readOnly: true, { _, _, db in try db.models() })
                .last(where: { $0.name == entry.name && $0.parentID == nil && $0.path.map { FileManager.default.fileExists(atPath: $0) } == true }) {
                print("\(known.label) is already fetched (\(known.path ?? "")); --force downloads it again")
                if activate { try promote(known.id, label: known.label) }
                return
            }
            let fetcher = ModelFetcher(entry: entry, stateDirectory: config.stateDirectory, retries: retries, log: log)
            let (directory, manifest, checkpoint) = try fetcher.fetch()
            print("imported \(entry.name) version \(manifest.version) into \(directory)")
            print("source \(manifest.sourceURL ?? manifest.source): \(manifest.sourceBytes ?? 0) bytes, sha256 \(manifest.sourceSHA256)")
            let id = try options.withDatabase { _, _, database in try ModelCommand.register(manifest, directory: directory, in: database) }
            print("registered as model \(id)")
            if !keepDownload { try? FileManager.default.removeItem(atPath: checkpoint) }
            if activate { try promote(id, label: "\(manifest.name)@\(manifest.version)") }
            else { print("to use it: pipelined model promote \(manifest.name)@\(manifest.version) (or fetch with --activate)") }
        }

        private func promote(_ id: Int, label: String) throws {
            try options.withDatabase { _, _, database in try database.promoteModel(id: id, reason: "fetched and activated by an operator") }
            print("\(label) is now active")
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
