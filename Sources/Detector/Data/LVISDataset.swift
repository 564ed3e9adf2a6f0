import Foundation

/// An LVIS-format (or COCO-format) annotation file: images with their negative and not-exhaustive category lists,
/// categories with their frequency bucket, and box annotations. COCO files lack the federated lists and frequencies:
/// every category then counts as exhaustively labelled and negative wherever it is absent, and as frequent.
public struct LVISDataset: Sendable {
    public struct Category: Sendable, Codable {
        public var id: Int
        public var name: String
        public var frequency: String?
        public var synonyms: [String]?
        public var def: String?
        public var image_count: Int?
        public init(id: Int, name: String, frequency: String? = nil) {
            self.id = id
            self.name = name
            self.frequency = frequency
        }
    }

    public var images: [LVISEvaluator.Image]
    public var categories: [Category]
    public var annotations: [LVISEvaluator.Annotation]
    /// Each image's file: `file_name`, else the last path component of LVIS v1's `coco_url`.
    public var fileNames: [Int: String] = [:]
    /// Each image's size in pixels, where the file gives it (training scales boxes by it).
    public var sizes: [Int: (width: Int, height: Int)] = [:]
    /// Each image's `neg_category_ids` as the file lists them (a COCO file has none; `images` then holds the
    /// evaluator's reading: every absent category negative).
    public var listedNegatives: [Int: [Int]] = [:]

    // Grounding and label-file fields (MDETR's grounding files; pipelined's labels inbox).
    /// The file's top-level `"vocabulary"` (a labels file's way to name the vocabulary its categories belong to).
    public var vocabulary: String?
    /// Images named by content (`"sha256"`, lowercase hex).
    public var sha256s: [Int: String] = [:]
    /// Each image's (or grounding entry's) `caption`.
    public var captions: [Int: String] = [:]
    /// MDETR grounding entries: the image an entry's caption describes (`original_img_id`), where the caption comes
    /// from (`dataset_name`; "caption_only" for captions without boxes) and its phrases (`tokens_positive_eval`).
    public var originalImageIDs: [Int: Int] = [:]
    public var datasetNames: [Int: String] = [:]
    public var phrases: [Int: [[Range<Int>]]] = [:]
    /// Boxes grounded on spans of their image's caption (`tokens_positive`).
    public var groundings: [Grounding] = []
    /// Where each annotation (by id) stood in the file's list, for messages that point into the file.
    public var annotationPositions: [Int: Int] = [:]

    /// A box that refers to character spans of its image's caption (Unicode scalars, end exclusive, as Python's str
    /// and MDETR's `tokens_positive` count), and to a category when the file also gives one it defines.
    public struct Grounding: Sendable {
        public var position: Int
        public var imageID: Int
        public var categoryID: Int?
        public var spans: [Range<Int>]
        public var bbox: (x: Double, y: Double, w: Double, h: Double)
    }

    /// Why an annotation or results file cannot be used.
    public enum Failure: Error, CustomStringConvertible {
        case unreadable(String, String)
        case malformed(String, String)

        public var description: String {
            switch self {
            case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
            case let .malformed(path, reason): return "\(path) is not a valid LVIS/COCO file: \(reason)"
            }
        }
    }

    /// A dataset built in memory (labels from the database, tests).
    public init(images: [LVISEvaluator.Image], categories: [Category], annotations: [LVISEvaluator.Annotation], fileNames: [Int: String] = [:],
                sizes: [Int: (width: Int, height: Int)] = [:], listedNegatives: [Int: [Int]] = [:]) {
        self.images = images
        self.categories = categories
        self.annotations = annotations
        self.fileNames = fileNames
        self.sizes = sizes
        self.listedNegatives = listedNegatives
    }

    /// The dataset as an LVIS file (what a fine-tuning run learned from, kept next to its checkpoint).
    public func jsonData() throws -> Data {
        let imageObjects: [[String: Any]] = images.map { i in
            var o: [String: Any] = ["id": i.id, "neg_category_ids": listedNegatives[i.id] ?? i.negativeCategories.sorted(),
                                    "not_exhaustive_category_ids": i.notExhaustiveCategories.sorted()]
            if let name = fileNames[i.id] { o["file_name"] = name }
            if let size = sizes[i.id] { (o["width"], o["height"]) = (size.width, size.height) }
            if let sha = sha256s[i.id] { o["sha256"] = sha }
            if let caption = captions[i.id] { o["caption"] = caption }
            return o
        }
        var annotationObjects: [[String: Any]] = annotations.map { a in
            ["id": a.id, "image_id": a.imageID, "category_id": a.categoryID, "bbox": [a.bbox.x, a.bbox.y, a.bbox.w, a.bbox.h],
             "area": a.area, "iscrowd": 0]
        }
        var nextID = (annotations.map(\.id).max() ?? 0) + 1
        for g in groundings where g.categoryID == nil {
            annotationObjects.append(["id": nextID, "image_id": g.imageID, "bbox": [g.bbox.x, g.bbox.y, g.bbox.w, g.bbox.h],
                                      "tokens_positive": g.spans.map { [$0.lowerBound, $0.upperBound] }])
            nextID += 1
        }
        let categoryObjects: [[String: Any]] = categories.map { c in
            var o: [String: Any] = ["id": c.id, "name": c.name]
            if let f = c.frequency { o["frequency"] = f }
            if let n = c.image_count { o["image_count"] = n }
            if let s = c.synonyms { o["synonyms"] = s }
            if let d = c.def { o["def"] = d }
            return o
        }
        var root: [String: Any] = ["images": imageObjects, "annotations": annotationObjects, "categories": categoryObjects]
        if let vocabulary { root["vocabulary"] = vocabulary }
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
    }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.unreadable(path, "no such file") }
        do { try self.init(json: data) } catch { throw Failure.malformed(path, error.description) }
    }

    /// The dataset cut down to some of its images (their annotations only; categories unchanged).
    public func restricted(to ids: Set<Int>) -> LVISDataset {
        var copy = self
        copy.images = images.filter { ids.contains($0.id) }
        copy.annotations = annotations.filter { ids.contains($0.imageID) }
        return copy
    }

    /// The dataset limited to some categories (their annotations and federated labels only).
    public func restricted(toCategories ids: Set<Int>) -> LVISDataset {
        var copy = self
        copy.categories = categories.filter { ids.contains($0.id) }
        copy.annotations = annotations.filter { ids.contains($0.categoryID) }
        copy.images = images.map {
            LVISEvaluator.Image(id: $0.id, negativeCategories: $0.negativeCategories.intersection(ids),
                                notExhaustiveCategories: $0.notExhaustiveCategories.intersection(ids))
        }
        return copy
    }

    public var evaluator: LVISEvaluator {
        LVISEvaluator(images: images, categories: categories.map { .init(id: $0.id, frequency: $0.frequency ?? "f") },
                      annotations: annotations)
    }

    /// A results file: a JSON list of {image_id, category_id, bbox [x, y, w, h], score}.
    public static func results(path: String) throws -> [LVISEvaluator.Result] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.unreadable(path, "no such file") }
        guard let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw Failure.malformed(path, "results must be a JSON list of detections")
        }
        return try list.enumerated().map { (i, r) in
            guard let image = r["image_id"] as? Int, let cat = r["category_id"] as? Int,
                  let b = (r["bbox"] as? [NSNumber])?.map(\.doubleValue), b.count == 4,
                  let score = (r["score"] as? NSNumber)?.doubleValue else {
                throw Failure.malformed(path, "result \(i) lacks image_id, category_id, a 4-number bbox or score")
            }
            return LVISEvaluator.Result(imageID: image, categoryID: cat, bbox: (b[0], b[1], b[2], b[3]), score: score)
        }
    }
}
