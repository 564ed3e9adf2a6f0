import ArgumentParser
import Detector
import Foundation
import Store

struct VocabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vocab", abstract: "Import and list vocabularies.",
                                                    subcommands: [Import.self, List.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a new version of a vocabulary from LVIS/COCO JSON (its categories) or a text list (one name per line).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "LVIS or COCO JSON, or a text file.") var file: String
        @Option(name: .long, help: "The vocabulary's name (inboxes refer to it).") var name: String

        func run() throws {
            let (categories, source) = try Self.parse(file)
            let stored = try options.withDatabase { _, _, database in
                try database.importVocabulary(name: name, source: source, categories: categories)
            }
            print("imported \(stored.categories.count) categories as \(stored.name) version \(stored.version) (\(source))")
        }

        static func parse(_ path: String) throws -> ([VocabularyCategory], String) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read \(path)")
            }
            var categories: [VocabularyCategory]
            var source = "text"
            if data.first(where: { !Set(" \t\r\n".utf8).contains($0) }) == UInt8(ascii: "{") {
                // The categories of an LVIS/COCO file (a whole annotation file works too), read as training reads it.
                let decoded: [LVISDataset.Category]
                do { decoded = try LVISDataset(json: data).categories } catch {
                    throw ValidationError("\(path) is not a valid LVIS/COCO file: \(error)")
                }
                guard !decoded.isEmpty else { throw ValidationError("\(path) has no 'categories'") }
                source = decoded.contains { $0.frequency != nil } ? "lvis" : "coco"
                for c in decoded where c.frequency.map({ !["r", "c", "f"].contains($0) }) ?? false {
                    throw ValidationError("\(path): category \(c.name) has frequency '\(c.frequency!)', expected r, c or f")
                }
                categories = decoded.map {
                    VocabularyCategory(externalID: $0.id, name: $0.name, synonyms: $0.synonyms ?? [], definition: $0.def,
                                       frequency: $0.frequency, imageCount: $0.image_count)
                }
            } else {
                let text = String(decoding: data, as: UTF8.self)
                categories = text.split(whereSeparator: \.isNewline)
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty && !$0.hasPrefix("#") }
                    .enumerated().map { VocabularyCategory(externalID: $0.offset + 1, name: $0.element) }
            }
            guard !categories.isEmpty else { throw ValidationError("\(path) names no categories") }
            var seen = Set<String>()
            for c in categories where !seen.insert(c.name).inserted {
                throw ValidationError("\(path) names category '\(c.name)' twice")
            }
            return (categories, source)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List stored vocabularies.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let list = try options.withDatabase(readOnly: true) { _, _, database in try database.vocabularies() }
            if list.isEmpty { print("no vocabularies") }
            for v in list { print("\(v.name)\t\(v.version)\t\(v.source)\t\(v.categories) categories\t\(v.created)") }
        }
    }
}
