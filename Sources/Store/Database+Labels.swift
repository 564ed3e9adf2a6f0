import Foundation

/// An image a label file may name: found by the name it arrived under (or its sha256), with its decoded size.
public struct LabelTarget: Sendable, Equatable {
    public var imageID: Int
    public var sha256: String
    public var width: Int?, height: Int?
    public var status: String
    /// The vocabularies (ids) this image already has labels in.
    public var labelledIn: [Int]
}

/// One image's labels, resolved to row ids, ready to store.
public struct LabelSetRow: Sendable {
    public struct Box: Sendable {
        public var categoryID: Int?              // LVIS/COCO labels
        public var spans: [Range<Int>]?          // grounding labels: character spans of the caption
        public var x, y, w, h: Double
        public init(categoryID: Int?, spans: [Range<Int>]?, x: Double, y: Double, w: Double, h: Double) {
            (self.categoryID, self.spans, self.x, self.y, self.w, self.h) = (categoryID, spans, x, y, w, h)
        }
    }
    public var imageID: Int
    public var negativeIDs: [Int], notExhaustiveIDs: [Int]
    public var caption: String?
    public var split: String                     // train | heldout
    public var boxes: [Box]
    public init(imageID: Int, negativeIDs: [Int], notExhaustiveIDs: [Int], caption: String?, split: String, boxes: [Box]) {
        (self.imageID, self.negativeIDs, self.notExhaustiveIDs, self.caption, self.split, self.boxes) =
            (imageID, negativeIDs, notExhaustiveIDs, caption, split, boxes)
    }
}

/// A row of `label_import_log`.
public struct LabelImportRecord: Sendable {
    public var id: Int
    public var source: String
    public var status: String
    public var reason: String?
    public var evidencePath: String?
    public var vocabulary: String?
    public var images: Int, annotations: Int
}

extension Database {
    static let labelTargets = Statement("labels.targets", """
        SELECT DISTINCT ON (a.original_name) a.original_name AS name, i.id, i.sha256, i.width, i.height, i.status,
               coalesce((SELECT array_agg(s.vocabulary_id) FROM label_sets s WHERE s.image_id = i.id), '{}') AS labelled
        FROM image_arrivals a JOIN images i ON i.id = a.image_id
        WHERE a.original_name = ANY ($1::text[])
        ORDER BY a.original_name, a.arrived_at DESC
        """)
    static let labelTargetsBySHA = Statement("labels.targets_sha", """
        SELECT i.sha256 AS name, i.id, i.sha256, i.width, i.height, i.status,
               coalesce((SELECT array_agg(s.vocabulary_id) FROM label_sets s WHERE s.image_id = i.id), '{}') AS labelled
        FROM images i WHERE i.sha256 = ANY ($1::text[])
        """)

    /// The images the names refer to (the name a file arrived under, relative to its inbox; the newest arrival wins
    /// when two inboxes used the same name), and the images with the given sha256s. Unknown names are absent.
    public func labelTargets(names: [String], sha256s: [String] = []) throws -> [String: LabelTarget] {
        var out: [String: LabelTarget] = [:]
        for (statement, keys) in [(Self.labelTargets, names), (Self.labelTargetsBySHA, sha256s)] where !keys.isEmpty {
            for row in try query(statement, [keys]) {
                out[try row.string("name")] = LabelTarget(
                    imageID: try row.int("id"), sha256: try row.string("sha256"), width: try row.optionalInt("width"),
                    height: try row.optionalInt("height"), status: try row.string("status"),
                    labelledIn: Self.intArray(row["labelled"]))
            }
        }
        return out
    }

    static let insertLabelImport = Statement("labels.insert_import", """
        INSERT INTO label_imports (source, sha256, status, reason, evidence_path, vocabulary_id, images, annotations)
        VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::integer, $8::integer) RETURNING id
        """)
    static let insertLabelSet = Statement("labels.insert_set", """
        INSERT INTO label_sets (import_id, image_id, vocabulary_id, negative_ids, not_exhaustive_ids, caption, split)
        VALUES ($1::bigint, $2::bigint, $3::bigint, $4::bigint[], $5::bigint[], $6, $7) RETURNING id
        """)
    static let insertAnnotation = Statement("labels.insert_annotation", """
        INSERT INTO annotations (label_set_id, category_id, spans, x, y, w, h)
        VALUES ($1::bigint, $2::bigint, $3::int4range[], $4::float8, $5::float8, $6::float8, $7::float8)
        """)

    /// Stores a whole label file in one transaction: every image's set and box, or nothing (the error says which
    /// row the database refused). Returns the import's id.
    public func importLabels(source: String, sha256: String?, vocabularyID: Int, sets: [LabelSetRow]) throws -> Int {
        try transaction { conn in
            let boxes = sets.reduce(0) { $0 + $1.boxes.count }
            let importID = try conn.query(Self.insertLabelImport, [source, sha256, "imported", nil, nil, vocabularyID,
                                                                   sets.count, boxes]).first!.int("id")
            for set in sets {
                let setID = try conn.query(Self.insertLabelSet, [importID, set.imageID, vocabularyID, set.negativeIDs,
                                                                 set.notExhaustiveIDs, set.caption, set.split]).first!.int("id")
                for b in set.boxes {
                    let spans = b.spans.map { "{" + $0.map { "\"[\($0.lowerBound),\($0.upperBound))\"" }.joined(separator: ",") + "}" }
                    try conn.query(Self.insertAnnotation, [setID, b.categoryID, spans, b.x, b.y, b.w, b.h])
                }
            }
            return importID
        }
    }

    /// Records a label file that was refused, with the reason and where the file was kept.
    @discardableResult
    public func recordRejectedLabels(source: String, sha256: String?, reason: String, evidencePath: String?,
                                     vocabularyID: Int? = nil) throws -> Int {
        try query(Self.insertLabelImport, [source, sha256, "rejected", reason, evidencePath, vocabularyID, 0, 0]).first!.int("id")
    }

    static let labelImportLog = Statement("labels.log", """
        SELECT id, source, status, reason, evidence_path, vocabulary, images, annotations
        FROM label_import_log ORDER BY id
        """)

    public func labelImports() throws -> [LabelImportRecord] {
        try query(Self.labelImportLog).map { r in
            LabelImportRecord(id: try r.int("id"), source: try r.string("source"), status: try r.string("status"),
                              reason: r["reason"], evidencePath: r["evidence_path"], vocabulary: r["vocabulary"],
                              images: try r.int("images"), annotations: try r.int("annotations"))
        }
    }

    /// A PostgreSQL integer array in text form ("{1,2}") as Ints.
    static func intArray(_ text: String?) -> [Int] {
        guard let text, text.count > 2 else { return [] }
        return text.dropFirst().dropLast().split(separator: ",").compactMap { Int($0) }
    }
}
