import ArgumentParser
import Foundation
import Pipeline
import Stages
import Store

/// `pipelined labels import|list`: the labels inbox's import from the command line, and its log.
struct LabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "labels", abstract: "Import labels (LVIS/COCO JSON) and list imports.",
                                                    subcommands: [Import.self, List.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a labels file whole or not at all (as dropping it into the labels inbox does); the file is moved to the archive or, rejected, to the quarantine.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "LVIS/COCO JSON naming images as they arrived in an inbox (or by sha256).") var file: String
        @Option(name: .long, help: "Vocabulary the file's categories belong to (default: labels.vocabulary of the config).") var vocabulary: String?
        @Flag(name: .long, help: "Leave the file where it is (a copy is archived or quarantined).") var keep = false

        func run() throws {
            let outcome = try options.withDatabase { config, logger, database -> LabelImporter.Outcome in
                var settings = config.labels
                if let vocabulary { settings.vocabulary = vocabulary }
                let importer = LabelImporter(database: database, settings: settings, archiveRoot: config.archiveRoot,
                                             quarantineRoot: config.quarantineRoot, logger: logger)
                var path = file
                if keep {
                    path = NSTemporaryDirectory() + "pipelined-labels-\(getpid())-" + (file as NSString).lastPathComponent
                    try? FileManager.default.removeItem(atPath: path)
                    try FileManager.default.copyItem(atPath: file, toPath: path)
                }
                return try importer.importFile(path, source: (file as NSString).lastPathComponent)
            }
            if outcome.imported {
                print("imported labels of \(outcome.images) images, \(outcome.annotations) boxes (import \(outcome.importID))")
            } else {
                throw LabelsRejected(description: "rejected (import \(outcome.importID)): \(outcome.reason ?? "")")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every label import, rejected ones with their reason.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let imports = try options.withDatabase(readOnly: true) { _, _, database in try database.labelImports() }
            if imports.isEmpty { print("no label imports") }
            for i in imports {
                let what = i.status == "imported" ? "\(i.images) images, \(i.annotations) boxes, vocabulary \(i.vocabulary ?? "?")"
                    : "\(i.reason ?? "") (evidence: \(i.evidencePath ?? "none"))"
                print("\(i.id)\t\(i.status)\t\(i.source)\t\(what)")
            }
        }
    }
}

/// A refused labels file: the reason, without the usage text ArgumentParser adds to validation errors.
struct LabelsRejected: Error, CustomStringConvertible {
    var description: String
}
