import ArgumentParser
import Detector
import Foundation
import Pipeline
import Store

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "Import and list models.",
                                                    subcommands: [Import.self, List.self])

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
                try database.registerModel(name: name, version: manifest.version, weightsSHA256: manifest.weightsSHA256,
                                           configJSON: configJSON)
            }
            print("registered as model \(id)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered models.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let models = try options.withDatabase { _, _, database in try database.models() }
            if models.isEmpty { print("no models registered") }
            for m in models {
                print("\(m.id)\t\(m.name)\t\(m.version)\t\(m.status)\t\(m.createdAt)\t\(m.weightsSHA256.prefix(16))…")
            }
        }
    }
}
