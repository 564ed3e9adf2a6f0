import Foundation

/// A labels file as users write it: LVIS/COCO JSON — `images` (with `file_name`, and LVIS's `neg_category_ids` /
/// `not_exhaustive_category_ids`), `annotations` (`image_id`, `category_id`, `bbox` as x, y, w, h in pixels) and
/// `categories` (`id`, `name`) — or grounding labels in MDETR's form, where an image carries a `caption` and each
/// annotation's `tokens_positive` gives the caption's character spans instead of a category. Optional extensions:
/// a top-level `"vocabulary": "name"` and per-image `"sha256"` (to name an image by content instead of by the name
/// it arrived under). Keys COCO adds (`info`, `licenses`, `segmentation`, `area`, `iscrowd`, …) are ignored.
///
/// Parsing checks everything the file can show on its own; `LabelImporter` checks it against the database.
public struct LabelFile: Sendable {
    public struct Image: Sendable {
        public var id: Int
        public var fileName: String?
        public var sha256: String?
        public var width: Int?, height: Int?
        public var negativeCategories: [Int], notExhaustiveCategories: [Int]
        public var caption: String?
        /// How the file names the image: its sha256 when given, else its file name.
        public var key: String { sha256 ?? fileName ?? "" }
    }
    public struct Annotation: Sendable {
        public var index: Int                     // position in the file, for messages
        public var imageID: Int
        public var categoryID: Int?
        public var spans: [Range<Int>]?
        public var bbox: [Double]                 // x, y, w, h in pixels
    }

    public var vocabulary: String?
    public var categories: [Int: String]          // the file's category id → name
    public var images: [Image]
    public var annotations: [Annotation]

    /// Files bigger than this are refused before parsing.
    public static let maxBytes = 256 << 20

    public static func parse(_ data: Data) throws(LabelError) -> LabelFile {
        guard data.count <= maxBytes else { throw .invalid("the file is \(data.count) bytes, over the limit of \(maxBytes)") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw .malformedJSON(Self.jsonReason(error))
        }
        guard let root = object as? [String: Any] else { throw .invalid("the file is not a JSON object with images, annotations and categories") }
        // PostgreSQL's text cannot hold NUL and libpq would cut a parameter there: "a\u0000b" would name image "a".
        if let path = NULCheck.path(in: root) { throw .invalid("\(path) contains a NUL character") }
        var file = LabelFile(vocabulary: nil, categories: [:], images: [], annotations: [])
        if let v = root["vocabulary"] {
            guard let name = v as? String, !name.isEmpty else { throw .invalid("\"vocabulary\" must be a non-empty string") }
            file.vocabulary = name
        }

        // Categories: unique ids and names.
        let rawCategories = try Self.array(root, "categories", required: false)
        var names = Set<String>()
        for (k, raw) in rawCategories.enumerated() {
            guard let c = raw as? [String: Any] else { throw .invalid("categories[\(k)] is not an object") }
            let id = try Self.int(c, "id", at: "categories[\(k)]")
            guard let name = c["name"] as? String, !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw .invalid("categories[\(k)] has no name")
            }
            guard file.categories[id] == nil else { throw .duplicate("category id \(id) appears twice") }
            guard names.insert(name).inserted else { throw .duplicate("category name \"\(name)\" appears twice") }
            file.categories[id] = name
        }

        // Images: unique ids and names; image-level lists refer to the file's categories.
        let rawImages = try Self.array(root, "images", required: true)
        guard !rawImages.isEmpty else { throw .invalid("\"images\" is empty: there is nothing to label") }
        var ids = Set<Int>(), keys = Set<String>()
        for (k, raw) in rawImages.enumerated() {
            let at = "images[\(k)]"
            guard let i = raw as? [String: Any] else { throw .invalid("\(at) is not an object") }
            let id = try Self.int(i, "id", at: at)
            let fileName = i["file_name"].flatMap { $0 as? String }
            let sha = i["sha256"].flatMap { $0 as? String }?.lowercased()
            if i["file_name"] != nil && (fileName?.isEmpty ?? true) { throw .invalid("\(at).file_name must be a non-empty string") }
            if let sha, sha.count != 64 || !sha.allSatisfy(\.isHexDigit) { throw .invalid("\(at).sha256 is not a SHA-256 in hex") }
            guard fileName != nil || sha != nil else { throw .invalid("\(at) names no image: give file_name (as it arrived in the inbox) or sha256") }
            var image = Image(id: id, fileName: fileName, sha256: sha, width: nil, height: nil,
                              negativeCategories: [], notExhaustiveCategories: [], caption: nil)
            if i["width"] != nil || i["height"] != nil {
                image.width = try Self.int(i, "width", at: at)
                image.height = try Self.int(i, "height", at: at)
                guard image.width! > 0, image.height! > 0 else { throw .invalid("\(at) has size \(image.width!)×\(image.height!)") }
            }
            image.negativeCategories = try Self.categoryList(i, "neg_category_ids", at: at, known: file.categories)
            image.notExhaustiveCategories = try Self.categoryList(i, "not_exhaustive_category_ids", at: at, known: file.categories)
            if let both = image.negativeCategories.first(where: image.notExhaustiveCategories.contains) {
                throw .invalid("\(at) lists category id \(both) as both negative and not exhaustively labelled")
            }
            if let c = i["caption"] {
                guard let caption = c as? String, !caption.isEmpty else { throw .invalid("\(at).caption must be a non-empty string") }
                image.caption = caption
            }
            guard ids.insert(id).inserted else { throw .duplicate("image id \(id) appears twice") }
            guard keys.insert(image.key).inserted else { throw .duplicate("image \(image.key) appears twice") }
            file.images.append(image)
        }
        let byID = Dictionary(uniqueKeysWithValues: file.images.map { ($0.id, $0) })

        // Annotations: a known image, a known category or spans inside its caption, a box with positive size.
        let rawAnnotations = try Self.array(root, "annotations", required: false)
        var annotationIDs = Set<Int>()
        var seen = Set<String>()
        for (k, raw) in rawAnnotations.enumerated() {
            let at = "annotations[\(k)]"
            guard let a = raw as? [String: Any] else { throw .invalid("\(at) is not an object") }
            if a["id"] != nil {
                let id = try Self.int(a, "id", at: at)
                guard annotationIDs.insert(id).inserted else { throw .duplicate("annotation id \(id) appears twice") }
            }
            let imageID = try Self.int(a, "image_id", at: at)
            guard let image = byID[imageID] else { throw .invalid("\(at) refers to image id \(imageID), which the file does not list") }
            guard let box = a["bbox"] as? [Any], box.count == 4, case let numbers = box.compactMap(Self.number), numbers.count == 4 else {
                throw .invalid("\(at).bbox must be four numbers: x, y, width, height in pixels")
            }
            guard numbers.allSatisfy(\.isFinite), numbers[2] > 0, numbers[3] > 0 else {
                throw .invalid("\(at).bbox \(numbers) has no area")
            }
            guard numbers[0] >= 0, numbers[1] >= 0 else { throw .outside("\(at).bbox \(numbers) starts outside image \(image.key)") }
            if let w = image.width, let h = image.height, numbers[0] + numbers[2] > Double(w) + 0.5 || numbers[1] + numbers[3] > Double(h) + 0.5 {
                throw .outside("\(at).bbox \(numbers) ends outside image \(image.key) (\(w)×\(h))")
            }
            var annotation = Annotation(index: k, imageID: imageID, categoryID: nil, spans: nil, bbox: numbers)
            if a["category_id"] != nil {
                let category = try Self.int(a, "category_id", at: at)
                guard file.categories[category] != nil else { throw .invalid("\(at) uses category id \(category), which the file does not define") }
                guard !image.negativeCategories.contains(category) else {
                    throw .invalid("\(at) boxes category \(file.categories[category]!) in image \(image.key), which lists it as negative")
                }
                annotation.categoryID = category
            } else if let raw = a["tokens_positive"] {
                guard let caption = image.caption else { throw .invalid("\(at) has tokens_positive but image \(image.key) has no caption") }
                guard let pairs = raw as? [[Any]], !pairs.isEmpty else { throw .invalid("\(at).tokens_positive must be a list of [start, end] pairs") }
                let length = caption.unicodeScalars.count
                annotation.spans = try pairs.map { pair throws(LabelError) -> Range<Int> in
                    let ends = pair.compactMap(Self.number)
                    guard ends.count == 2, pair.count == 2, ends.allSatisfy({ $0 == $0.rounded() }),
                          ends[0] >= 0, ends[0] < ends[1], ends[1] <= Double(length) else {
                        throw .invalid("\(at).tokens_positive \(Self.json(pair)) is not a span inside the caption (\(length) characters)")
                    }
                    return Int(ends[0])..<Int(ends[1])
                }
            } else {
                throw .invalid("\(at) has neither category_id nor tokens_positive")
            }
            let identity = "\(imageID)|\(annotation.categoryID.map(String.init) ?? "")|\(annotation.spans.map { "\($0)" } ?? "")|\(numbers)"
            guard seen.insert(identity).inserted else { throw .duplicate("\(at) repeats an earlier box exactly") }
            file.annotations.append(annotation)
        }
        return file
    }

    // MARK: - Helpers

    static func array(_ object: [String: Any], _ key: String, required: Bool) throws(LabelError) -> [Any] {
        guard let value = object[key] else {
            if required { throw .invalid("the file has no \"\(key)\" list") }
            return []
        }
        guard let list = value as? [Any] else { throw .invalid("\"\(key)\" is not a list") }
        return list
    }

    /// A JSON number that is an integer (1 and 1.0 both count; true and "1" do not).
    static func int(_ object: [String: Any], _ key: String, at: String) throws(LabelError) -> Int {
        guard let value = object[key] else { throw .invalid("\(at) has no \(key)") }
        guard let n = number(value), n == n.rounded(), abs(n) < 1e15 else { throw .invalid("\(at).\(key) is not an integer: \(json(value))") }
        return Int(n)
    }

    static func number(_ value: Any) -> Double? {
        guard !SidecarQueries.isBoolean(value), let n = value as? NSNumber else { return nil }
        return n.doubleValue
    }

    static func categoryList(_ object: [String: Any], _ key: String, at: String, known: [Int: String]) throws(LabelError) -> [Int] {
        guard let raw = object[key] else { return [] }
        guard let list = raw as? [Any] else { throw .invalid("\(at).\(key) is not a list") }
        var out: [Int] = []
        for v in list {
            // Bounded before `Int(_:)`, which traps on a value past Int's range (1e300 is valid JSON).
            guard let n = number(v), n == n.rounded(), abs(n) < 1e15 else { throw .invalid("\(at).\(key) holds \(json(v)), not a category id") }
            guard known[Int(n)] != nil else { throw .invalid("\(at).\(key) names category id \(Int(n)), which the file does not define") }
            guard !out.contains(Int(n)) else { throw .duplicate("\(at).\(key) lists category id \(Int(n)) twice") }
            out.append(Int(n))
        }
        return out
    }

    /// A parsed JSON value as it was written (`true`, `"7"`, `null`), not as Foundation prints it (`1`, `7`, `<null>`).
    static func json(_ value: Any) -> String {
        if SidecarQueries.isBoolean(value), let b = value as? Bool { return b ? "true" : "false" }
        if value is NSNull { return "null" }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]),
              let text = String(data: data, encoding: .utf8) else { return "\(value)" }
        return text.count > 80 ? String(text.prefix(77)) + "…" : text
    }

    static func jsonReason(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }
}
