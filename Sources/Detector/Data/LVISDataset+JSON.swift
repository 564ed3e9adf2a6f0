import Foundation

/// The one reader of LVIS/COCO JSON: annotation files for training and evaluation, MDETR's grounding files, the
/// labels users drop into the labels inbox and the category lists vocabularies are imported from.
///
/// What it accepts: `images` (`id`; `file_name` or LVIS v1's `coco_url`; `width` and `height` together;
/// `neg_category_ids`, `not_exhaustive_category_ids`; grounding's `caption`, `original_img_id`, `dataset_name`,
/// `tokens_positive_eval`; pipelined's `sha256`), `annotations` (`image_id`, `bbox` as x, y, w, h in pixels, and a
/// `category_id`, `tokens_positive` caption spans, or both), `categories` (`id`, `name`, and LVIS's `frequency`,
/// `synonyms`, `def`, `image_count`) and pipelined's top-level `vocabulary`. Other keys COCO and LVIS add (`info`,
/// `licenses`, `segmentation`, `iscrowd`, …) are ignored. Everything the file can show wrong on its own is refused
/// with the first problem found — a value of the wrong type, a dangling or repeated id, a box without area, a span
/// outside its caption — because a file read leniently trains or scores on something other than what it says.
extension LVISDataset {
    /// Why a file's content is not an LVIS/COCO dataset.
    public enum Problem: Error, CustomStringConvertible, Equatable {
        case malformedJSON(String)
        case invalid(String)
        case duplicate(String)

        public var description: String {
            switch self {
            case let .malformedJSON(s): return "malformed JSON: \(s)"
            case let .invalid(s): return s
            case let .duplicate(s): return "duplicate: \(s)"
            }
        }
    }

    public init(json data: Data) throws(Problem) {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            let ns = error as NSError
            throw .malformedJSON((ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription)
        }
        guard let root = object as? [String: Any] else { throw .invalid("the file is not a JSON object with images, annotations and categories") }
        self.init(images: [], categories: [], annotations: [])
        if let v = root["vocabulary"] {
            guard let name = v as? String, !name.isEmpty else { throw .invalid("\"vocabulary\" must be a non-empty string") }
            vocabulary = name
        }
        try readCategories(Self.list(root, "categories"))
        let positives = try readAnnotations(Self.list(root, "annotations"), images: readImages(Self.list(root, "images")))
        // A COCO file lists no negatives: every category absent from an image is one (and nothing is unverified).
        let all = Set(categories.map(\.id))
        images = images.map { image in
            guard listedNegatives[image.id] == nil else { return image }
            return LVISEvaluator.Image(id: image.id, negativeCategories: all.subtracting(positives[image.id] ?? []),
                                       notExhaustiveCategories: image.notExhaustiveCategories)
        }
    }

    private mutating func readCategories(_ raw: [Any]) throws(Problem) {
        var names = Set<String>()
        for (k, item) in raw.enumerated() {
            let at = "categories[\(k)]"
            guard let c = item as? [String: Any] else { throw .invalid("\(at) is not an object") }
            let id = try Self.int(c, "id", at: at)
            guard let name = c["name"] as? String, !name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw .invalid("\(at) has no name")
            }
            guard !categories.contains(where: { $0.id == id }) else { throw .duplicate("category id \(id) appears twice") }
            guard names.insert(name).inserted else { throw .duplicate("category name \"\(name)\" appears twice") }
            var category = Category(id: id, name: name, frequency: try Self.optional(c, "frequency", at: at))
            category.synonyms = try Self.optional(c, "synonyms", at: at)
            category.def = try Self.optional(c, "def", at: at)
            if c["image_count"] != nil { category.image_count = try Self.int(c, "image_count", at: at) }
            categories.append(category)
        }
    }

    /// Reads the images; returns their ids.
    private mutating func readImages(_ raw: [Any]) throws(Problem) -> Set<Int> {
        let known = Set(categories.map(\.id))
        var ids = Set<Int>(), shas = Set<String>()
        for (k, item) in raw.enumerated() {
            let at = "images[\(k)]"
            guard let i = item as? [String: Any] else { throw .invalid("\(at) is not an object") }
            let id = try Self.int(i, "id", at: at)
            guard ids.insert(id).inserted else { throw .duplicate("image id \(id) appears twice") }
            if i["file_name"] != nil {
                guard let name = i["file_name"] as? String, !name.isEmpty else { throw .invalid("\(at).file_name must be a non-empty string") }
                fileNames[id] = name
            } else if let url = i["coco_url"] as? String, !url.isEmpty {
                fileNames[id] = URL(fileURLWithPath: url).lastPathComponent
            }
            if i["sha256"] != nil {
                guard let sha = (i["sha256"] as? String)?.lowercased(), sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
                    throw .invalid("\(at).sha256 is not a SHA-256 in hex")
                }
                guard shas.insert(sha).inserted else { throw .duplicate("image \(sha) appears twice") }
                sha256s[id] = sha
            }
            if i["width"] != nil || i["height"] != nil {
                let (w, h) = (try Self.int(i, "width", at: at), try Self.int(i, "height", at: at))
                guard w > 0, h > 0 else { throw .invalid("\(at) has size \(w)×\(h)") }
                sizes[id] = (w, h)
            }
            let negatives = try Self.categoryList(i, "neg_category_ids", at: at, known: known)
            let unverified = try Self.categoryList(i, "not_exhaustive_category_ids", at: at, known: known)
            if let both = negatives?.first(where: { unverified?.contains($0) ?? false }) {
                throw .invalid("\(at) lists category id \(both) as both negative and not exhaustively labelled")
            }
            if let negatives { listedNegatives[id] = negatives }
            if i["caption"] != nil {
                guard let caption = i["caption"] as? String, !caption.isEmpty else { throw .invalid("\(at).caption must be a non-empty string") }
                captions[id] = caption
            }
            if i["original_img_id"] != nil { originalImageIDs[id] = try Self.int(i, "original_img_id", at: at) }
            if let source = i["dataset_name"] as? String { datasetNames[id] = source }
            if let raw = i["tokens_positive_eval"] {
                guard let list = raw as? [Any] else { throw .invalid("\(at).tokens_positive_eval is not a list of phrases") }
                phrases[id] = try list.map { phrase throws(Problem) in try Self.spans(phrase, in: captions[id], at: "\(at).tokens_positive_eval") }
            }
            images.append(LVISEvaluator.Image(id: id, negativeCategories: Set(negatives ?? []), notExhaustiveCategories: Set(unverified ?? [])))
        }
        return ids
    }

    /// Reads the annotations; returns each image's positive categories.
    private mutating func readAnnotations(_ raw: [Any], images ids: Set<Int>) throws(Problem) -> [Int: Set<Int>] {
        let known = Set(categories.map(\.id))
        var positives: [Int: Set<Int>] = [:]
        var annotationIDs = Set<Int>(), unnumbered: [(index: Int, position: Int)] = []   // annotations that need an id
        for (k, item) in raw.enumerated() {
            let at = "annotations[\(k)]"
            guard let a = item as? [String: Any] else { throw .invalid("\(at) is not an object") }
            var id: Int?
            if a["id"] != nil {
                id = try Self.int(a, "id", at: at)
                guard annotationIDs.insert(id!).inserted else { throw .duplicate("annotation id \(id!) appears twice") }
            }
            let imageID = try Self.int(a, "image_id", at: at)
            guard ids.contains(imageID) else { throw .invalid("\(at) refers to image id \(imageID), which the file does not list") }
            guard let box = a["bbox"] as? [Any], box.count == 4, case let numbers = box.compactMap(Self.number), numbers.count == 4 else {
                throw .invalid("\(at).bbox must be four numbers: x, y, width, height in pixels")
            }
            guard numbers.allSatisfy(\.isFinite), numbers[2] > 0, numbers[3] > 0 else { throw .invalid("\(at).bbox \(numbers) has no area") }
            let bbox = (x: numbers[0], y: numbers[1], w: numbers[2], h: numbers[3])
            var category: Int?
            if a["category_id"] != nil {
                let c = try Self.int(a, "category_id", at: at)
                // A grounding file's category ids may name categories it does not define (MDETR's flickr files use 1
                // throughout): for a box with spans, an undefined one is no category.
                if known.contains(c) { category = c } else if a["tokens_positive"] == nil {
                    throw .invalid("\(at) uses category id \(c), which the file does not define")
                }
            }
            if let c = category {
                guard !(listedNegatives[imageID]?.contains(c) ?? false) else {
                    throw .invalid("\(at) boxes category \(categoryName(c)) in image \(imageID), which lists it as negative")
                }
                positives[imageID, default: []].insert(c)
                let area = a["area"].flatMap(Self.number) ?? bbox.w * bbox.h
                if id == nil { unnumbered.append((annotations.count, k)) }
                annotations.append(LVISEvaluator.Annotation(id: id ?? 0, imageID: imageID, categoryID: c, bbox: bbox, area: area))
            }
            if let raw = a["tokens_positive"] {
                guard let caption = captions[imageID] else { throw .invalid("\(at) has tokens_positive but image \(imageID) has no caption") }
                let spans = try Self.spans(raw, in: caption, at: "\(at).tokens_positive")
                guard !spans.isEmpty else { throw .invalid("\(at).tokens_positive must be a list of [start, end] pairs") }
                groundings.append(Grounding(position: k, imageID: imageID, categoryID: category, spans: spans, bbox: bbox))
            } else if category == nil {
                throw .invalid("\(at) has neither category_id nor tokens_positive")
            }
            if let id, category != nil { annotationPositions[id] = k }
        }
        // The evaluator matches by annotation id, so a file that leaves ids out gets fresh ones after its own.
        var next = (annotationIDs.max() ?? 0) + 1
        for (index, position) in unnumbered {
            annotations[index].id = next
            annotationPositions[next] = position
            next += 1
        }
        return positives
    }

    private func categoryName(_ id: Int) -> String { categories.first { $0.id == id }?.name ?? "\(id)" }

    // MARK: - Values

    static func list(_ object: [String: Any], _ key: String) throws(Problem) -> [Any] {
        guard let value = object[key] else { return [] }
        guard let list = value as? [Any] else { throw .invalid("\"\(key)\" is not a list") }
        return list
    }

    /// A JSON number that is an integer (1 and 1.0 both count; true and "1" do not), inside Int's range.
    static func int(_ object: [String: Any], _ key: String, at: String) throws(Problem) -> Int {
        guard let value = object[key] else { throw .invalid("\(at) has no \(key)") }
        // Bounded before `Int(_:)`, which traps past Int's range (1e300 is valid JSON).
        guard let n = number(value), n == n.rounded(), abs(n) < 1e15 else { throw .invalid("\(at).\(key) is not an integer: \(json(value))") }
        return Int(n)
    }

    static func optional<T>(_ object: [String: Any], _ key: String, at: String) throws(Problem) -> T? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let typed = value as? T else { throw .invalid("\(at).\(key) has the wrong type: \(json(value))") }
        return typed
    }

    /// JSONSerialization gives NSNumber for numbers and booleans alike; booleans are not numbers here.
    static func number(_ value: Any) -> Double? {
        if type(of: value) == Bool.self { return nil }
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return n.doubleValue
    }

    static func categoryList(_ object: [String: Any], _ key: String, at: String, known: Set<Int>) throws(Problem) -> [Int]? {
        guard let raw = object[key] else { return nil }
        guard let list = raw as? [Any] else { throw .invalid("\(at).\(key) is not a list") }
        var out: [Int] = []
        for v in list {
            guard let n = number(v), n == n.rounded(), abs(n) < 1e15 else { throw .invalid("\(at).\(key) holds \(json(v)), not a category id") }
            guard known.contains(Int(n)) else { throw .invalid("\(at).\(key) names category id \(Int(n)), which the file does not define") }
            guard !out.contains(Int(n)) else { throw .duplicate("\(at).\(key) lists category id \(Int(n)) twice") }
            out.append(Int(n))
        }
        return out
    }

    /// `[[start, end], …]` character spans inside `caption`.
    static func spans(_ raw: Any, in caption: String?, at: String) throws(Problem) -> [Range<Int>] {
        guard let caption else { throw .invalid("\(at) gives spans but its image has no caption") }
        guard let pairs = raw as? [[Any]] else { throw .invalid("\(at) must be a list of [start, end] pairs") }
        let length = caption.unicodeScalars.count
        return try pairs.map { pair throws(Problem) -> Range<Int> in
            let ends = pair.compactMap(number)
            guard ends.count == 2, pair.count == 2, ends.allSatisfy({ $0 == $0.rounded() }),
                  ends[0] >= 0, ends[0] < ends[1], ends[1] <= Double(length) else {
                throw .invalid("\(at) \(json(pair)) is not a span inside the caption (\(length) characters)")
            }
            return Int(ends[0])..<Int(ends[1])
        }
    }

    /// A parsed JSON value as it was written (`true`, `"7"`, `null`), not as Foundation prints it (`1`, `7`, `<null>`).
    static func json(_ value: Any) -> String {
        if number(value) == nil, let b = value as? Bool { return b ? "true" : "false" }
        if value is NSNull { return "null" }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes]),
              let text = String(data: data, encoding: .utf8) else { return "\(value)" }
        return text.count > 80 ? String(text.prefix(77)) + "…" : text
    }
}
