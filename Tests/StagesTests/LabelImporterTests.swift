import Foundation
import Logging
import Pipeline
import Stages
@testable import Store
import TestSupport
import Testing

/// Labels against a real PostgreSQL: a good file is stored whole; a file wrong about the database's state is refused
/// whole with its reason, kept as evidence, and leaves no row behind.
@Suite struct LabelImporterTests {
    let dir = TemporaryDirectory("labels")

    /// A database with vocabulary "shapes" (red star, blue ring, green cube) and three decoded 40×30 images that
    /// arrived as a.png, b.png, c.png; d.png arrived but is not decoded yet.
    func setUp() throws -> Database {
        let db = Database(url: try TestDatabase.fresh(migrated: true))
        _ = try db.importVocabulary(name: "shapes", source: "text", categories: [
            VocabularyCategory(externalID: 1, name: "red star"), VocabularyCategory(externalID: 2, name: "blue ring"),
            VocabularyCategory(externalID: 3, name: "green cube"),
        ])
        for (n, name) in ["a.png", "b.png", "c.png", "d.png"].enumerated() {
            let sha = String(repeating: String(n + 1), count: 64)
            _ = try db.recordArrival(NewImage(sha256: sha, inbox: "in", originalName: name, archivePath: "x/\(sha).png",
                                              byteSize: 10, format: "png"), maxAttempts: 3)
            if name != "d.png" {
                try db.query(Statement("t.decoded", "UPDATE images SET status = 'decoded', width = 40, height = 30 WHERE sha256 = $1"), [sha])
            }
        }
        return db
    }

    func importer(_ db: Database) -> LabelImporter {
        var settings = LabelSettings()
        settings.vocabulary = "shapes"
        return LabelImporter(database: db, settings: settings, archiveRoot: dir.file("archive"),
                             quarantineRoot: dir.file("quarantine"), logger: Logger(label: "test"))
    }

    func drop(_ name: String, _ json: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir.file("labels"), withIntermediateDirectories: true)
        let path = dir.file("labels/" + name)
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func count(_ db: Database, _ table: String) throws -> Int {
        try db.query(Statement("t.count.\(table)", "SELECT count(*) AS n FROM \(table)")).first!.int("n")
    }

    static let categories = #""categories": [{"id": 1, "name": "red star"}, {"id": 2, "name": "blue ring"}, {"id": 3, "name": "green cube"}]"#

    @Test func aGoodFileIsStoredWholeAndArchived() throws {
        let db = try setUp()
        let path = try drop("good.json", """
            {\(Self.categories),
             "images": [{"id": 1, "file_name": "a.png", "neg_category_ids": [3]}, {"id": 2, "file_name": "b.png"},
                        {"id": 3, "sha256": "\(String(repeating: "3", count: 64))", "caption": "a red star"}],
             "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}, {"image_id": 1, "category_id": 2, "bbox": [20, 5, 20, 25]},
                             {"image_id": 2, "category_id": 2, "bbox": [0, 0, 5, 5]}, {"image_id": 3, "tokens_positive": [[2, 10]], "bbox": [3, 3, 4, 4]}]}
            """)
        let outcome = try importer(db).importFile(path, source: "good.json")
        #expect(outcome.imported && outcome.images == 3 && outcome.annotations == 4)
        #expect(try count(db, "label_sets") == 3 && count(db, "annotations") == 4)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("archive/labels")).count == 1)
        let rows = try db.query(Statement("t.labels", "SELECT original_name, category, kind, boxes FROM labels ORDER BY original_name, category"))
        let described = try rows.map { "\(try $0.string("original_name")) \(try $0.string("category")) \(try $0.string("kind")) \(try $0.int("boxes"))" }
        #expect(described == ["a.png blue ring positive 1", "a.png green cube negative 0", "a.png red star positive 1", "b.png blue ring positive 1"])
        let spans = try db.query(Statement("t.spans", "SELECT spans::text AS s FROM annotations WHERE spans IS NOT NULL")).first?.string("s")
        #expect(spans == #"{"[2,10)"}"#)
        // What a fine-tuning run reads: counts by split and the labels as an LVIS file of archive paths.
        let vocabulary = try #require(try db.latestVocabulary(name: "shapes"))
        let counts = try db.labelCounts(vocabularyID: vocabulary.id)
        #expect(counts.train + counts.heldout == 3 && counts.newestImport == outcome.importID)
        #expect(try db.labelCounts(vocabularyID: vocabulary.id, afterImport: outcome.importID).train == 0)
        let exported = try ["train", "heldout"].map { try db.exportLabels(vocabularyID: vocabulary.id, split: $0, uptoImport: outcome.importID) }
        let images = exported.flatMap(\.images)
        #expect(images.count == 3 && images.allSatisfy { $0.archivePath.hasPrefix("x/") && $0.width == 40 })
        #expect(exported.flatMap(\.annotations).count == 3, "category boxes only, not the grounding span")
        let categories = exported[0].categories
        #expect(categories.map(\.name) == ["red star", "blue ring", "green cube"])
        #expect(categories.allSatisfy { $0.frequency == "r" })   // by LVIS's rule on so few labels
        // The same image labelled again in the same vocabulary is a duplicate: refused, nothing added.
        let again = try importer(db).importFile(try drop("again.json", """
            {\(Self.categories), "images": [{"id": 1, "file_name": "c.png"}, {"id": 2, "file_name": "b.png", "neg_category_ids": [3]}],
             "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}]}
            """), source: "again.json")
        #expect(!again.imported && again.reason?.contains("c.png already has labels") == true)
        #expect(try count(db, "label_sets") == 3)
    }

    /// Files that parse but are wrong about the database: each is refused whole with its reason.
    static let refused: [(String, String, String)] = [
        ("unknown image", #"{CATS, "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "zzz.png", "neg_category_ids": [3]}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}]}"#, "zzz.png has not arrived"),
        ("unknown sha", #"{CATS, "images": [{"id": 1, "sha256": "9999999999999999999999999999999999999999999999999999999999999999", "neg_category_ids": [3]}]}"#, "has not arrived"),
        ("unknown category", #"{"categories": [{"id": 1, "name": "red star"}, {"id": 7, "name": "purple cone"}], "images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}]}"#, "purple cone"),
        ("unknown vocabulary", #"{"vocabulary": "animals", CATS, "images": [{"id": 1, "file_name": "a.png", "neg_category_ids": [3]}]}"#, "animals"),
        ("box outside the decoded image", #"{CATS, "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}, {"image_id": 2, "category_id": 2, "bbox": [30, 10, 15, 5]}]}"#, "outside image b.png (40×30)"),
        ("wrong declared size", #"{CATS, "images": [{"id": 1, "file_name": "a.png", "width": 80, "height": 60, "neg_category_ids": [3]}]}"#, "is 40×30"),
        ("image not decoded yet", #"{CATS, "images": [{"id": 1, "file_name": "d.png", "neg_category_ids": [3]}]}"#, "not decoded yet"),
        ("same image twice by name and sha", #"{CATS, "images": [{"id": 1, "file_name": "a.png", "neg_category_ids": [3]}, {"id": 2, "sha256": "1111111111111111111111111111111111111111111111111111111111111111", "neg_category_ids": [3]}]}"#, "same image"),
        ("malformed", #"{"images": [ {"id": 1, "file_name": "a.png"} "#, "malformed JSON"),
    ]

    @Test func filesWrongAboutTheDatabaseAreRefusedWholeWithTheEvidenceKept() throws {
        let db = try setUp()
        for (k, (name, template, word)) in Self.refused.enumerated() {
            let path = try drop("bad\(k).json", template.replacingOccurrences(of: "CATS", with: Self.categories))
            let outcome = try importer(db).importFile(path, source: "bad\(k).json")
            #expect(!outcome.imported, "\(name)")
            #expect(outcome.reason?.contains(word) == true, "\(name): \(outcome.reason ?? "nil")")
            #expect(!FileManager.default.fileExists(atPath: path), "\(name): the file left the inbox")
        }
        let csv = try drop("boxes.csv", "file_name,x,y,w,h\na.png,0,0,1,1\n")
        let outcome = try importer(db).importFile(csv, source: "boxes.csv")
        #expect(!outcome.imported && outcome.reason?.contains("*.json") == true, "\(outcome.reason ?? "nil")")
        #expect(try count(db, "label_sets") == 0 && count(db, "annotations") == 0, "nothing half-imported")
        let log = try db.labelImports()
        #expect(log.count == Self.refused.count + 1 && log.allSatisfy { $0.status == "rejected" && $0.reason != nil })
        for record in log {
            let evidence = dir.file("quarantine/" + (record.evidencePath ?? "?"))
            #expect(FileManager.default.fileExists(atPath: evidence), "\(record.source): evidence at \(evidence)")
        }
    }

    @Test func rowsInsertedByHandGetTheSameChecks() throws {
        let db = try setUp()
        let outcome = try importer(db).importFile(try drop("one.json", """
            {\(Self.categories), "images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}]}
            """), source: "one.json")
        #expect(outcome.imported)
        let set = try db.query(Statement("t.set", "SELECT id FROM label_sets")).first!.int("id")
        let category = try db.query(Statement("t.cat", "SELECT id FROM categories WHERE name = 'blue ring'")).first!.int("id")
        let insert = Statement("t.insert", "INSERT INTO annotations (label_set_id, category_id, x, y, w, h) VALUES ($1::bigint, $2::bigint, $3::float8, 0, 5, 5)")
        try db.query(insert, [set, category, 10.0])
        #expect { try db.query(insert, [set, category, 38.0]) } throws: { "\($0)".contains("outside image a.png") }
        #expect(try count(db, "annotations") == 2)

        // A label set inserted by hand gets an import of its own and the same split rule as imported ones.
        let image = try db.query(Statement("t.img", "SELECT id, sha256 FROM images WHERE original_name = 'b.png'")).first!
        let vocabulary = try db.query(Statement("t.voc", "SELECT id FROM vocabularies WHERE name = 'shapes'")).first!.int("id")
        let row = try db.query(Statement("t.handset", """
            INSERT INTO label_sets (image_id, vocabulary_id, negative_ids) VALUES ($1::bigint, $2::bigint, '{}') RETURNING import_id, split
            """), [try image.int("id"), vocabulary]).first!
        #expect(try row.int("import_id") > outcome.importID)
        #expect(row["split"] == LabelSettings().split(sha256: try image.string("sha256")))   // default fraction 0.2
        #expect(try db.labelImports().last?.source.hasPrefix("sql (") == true)
    }
}
