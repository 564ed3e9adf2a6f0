import ArgumentParser
import Detector
import Foundation
import Stages
import Store

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train MDETR in Swift on LVIS/COCO-format data; saves a model directory and registers it.",
        discussion: "See TrainingConfig.swift (or docs/training.md) for the config file. A rerun resumes from checkpoint_dir.")

    @Option(name: .customLong("config"), help: "Training config (TOML).")
    var trainingConfig: String

    @Option(name: .customLong("database-url"), help: "Register the model in this PostgreSQL (default: PIPELINED_DATABASE_URL; none: not registered).")
    var databaseURL: String?

    @Flag(name: .customLong("no-register"), help: "Do not record the model in PostgreSQL.")
    var noRegister = false

    @Flag(name: .long, help: "No progress bar.")
    var quiet = false

    func run() throws {
        LogSetup.bootstrap(level: .info)
        let c = try TrainingConfig.load(trainingConfig)
        let session = try TrainingSession(c, quiet: quiet)
        let manifest = try session.run()
        for (k, v) in (manifest.metrics ?? [:]).sorted(by: { $0.key < $1.key }) where k != "training_seconds" {
            print("\(k.padding(toLength: 9, withPad: " ", startingAt: 0)) \(String(format: "%.4f", v))")
        }
        print("model written to \(c.output) (\(manifest.name)@\(manifest.version))")
        guard !noRegister, let url = databaseURL ?? ProcessInfo.processInfo.environment["PIPELINED_DATABASE_URL"] else { return }
        let database = Database(url: url)
        defer { database.close() }
        _ = try Migrator().migrate(url: url)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metrics = String(decoding: try JSONSerialization.data(withJSONObject: manifest.metrics ?? [:]), as: UTF8.self)
        let id = try database.registerModel(NewModel(name: manifest.name, version: manifest.version, weightsSHA256: manifest.weightsSHA256,
                                                     configJSON: String(decoding: try encoder.encode(manifest.config), as: UTF8.self),
                                                     path: URL(fileURLWithPath: c.output).standardizedFileURL.path, metricsJSON: metrics))
        print("registered as model \(id)")
    }
}
