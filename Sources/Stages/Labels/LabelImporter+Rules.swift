import Detector
import Foundation

/// A labels file is an LVIS/COCO dataset (read by the Detector's `LVISDataset`, as training and evaluation read
/// theirs) that also keeps the labels inbox's own rules: it labels something, names every image it labels (by the
/// name it arrived under, or by sha256), keeps its boxes inside the images, says nothing twice, and holds no text
/// PostgreSQL cannot store.
extension LabelImporter {
    /// Files bigger than this are refused before they are read.
    public static let maxBytes = 256 << 20

    /// One box of a labels file, on a category or on caption spans, with its place in the file for messages.
    struct LabelBox {
        var position: Int
        var imageID: Int
        var categoryID: Int?
        var spans: [Range<Int>]?
        var bbox: (x: Double, y: Double, w: Double, h: Double)
        var numbers: [Double] { [bbox.x, bbox.y, bbox.w, bbox.h] }
    }

    /// Everything a labels file can be refused for on its own, before the database is asked.
    public static func validate(_ data: Data) throws(LabelError) -> LVISDataset {
        guard data.count <= maxBytes else { throw .invalid("the file is \(data.count) bytes, over the limit of \(maxBytes)") }
        let dataset: LVISDataset
        do { dataset = try LVISDataset(json: data) } catch {
            switch error {
            case let .malformedJSON(reason): throw .malformedJSON(reason)
            case let .invalid(reason): throw .invalid(reason)
            case let .duplicate(reason): throw .duplicate(reason)
            }
        }
        // PostgreSQL's text cannot hold NUL and libpq would cut a parameter there: "a\u0000b" would name image "a".
        var texts: [(place: String, text: String?)] = [("vocabulary", dataset.vocabulary)]
        for (k, category) in dataset.categories.enumerated() { texts.append(("categories[\(k)].name", category.name)) }
        for (k, image) in dataset.images.enumerated() {
            texts.append(("images[\(k)].file_name", dataset.fileNames[image.id]))
            texts.append(("images[\(k)].caption", dataset.captions[image.id]))
        }
        if let place = texts.first(where: { $0.text?.unicodeScalars.contains("\u{0}") ?? false })?.place {
            throw .invalid("\(place) contains a NUL character")
        }
        guard !dataset.images.isEmpty else { throw .invalid("the file has no \"images\": there is nothing to label") }
        var keys = Set<String>()
        for (k, image) in dataset.images.enumerated() {
            guard let key = key(of: image.id, in: dataset) else {
                throw .invalid("images[\(k)] names no image: give file_name (as it arrived in the inbox) or sha256")
            }
            guard keys.insert(key).inserted else { throw .duplicate("image \(key) appears twice") }
        }
        var seen = Set<String>()
        for box in boxes(of: dataset) {
            let at = "annotations[\(box.position)]", key = key(of: box.imageID, in: dataset) ?? "?"
            guard box.bbox.x >= 0, box.bbox.y >= 0 else { throw .outside("\(at).bbox \(box.numbers) starts outside image \(key)") }
            if let size = dataset.sizes[box.imageID], box.bbox.x + box.bbox.w > Double(size.width) + 0.5 || box.bbox.y + box.bbox.h > Double(size.height) + 0.5 {
                throw .outside("\(at).bbox \(box.numbers) ends outside image \(key) (\(size.width)×\(size.height))")
            }
            let identity = "\(box.imageID)|\(box.categoryID.map(String.init) ?? "")|\(box.spans.map { "\($0)" } ?? "")|\(box.numbers)"
            guard seen.insert(identity).inserted else { throw .duplicate("\(at) repeats an earlier box exactly") }
        }
        return dataset
    }

    /// How the file names an image: its sha256 when given, else its file name.
    static func key(of image: Int, in dataset: LVISDataset) -> String? {
        dataset.sha256s[image] ?? dataset.fileNames[image]
    }

    /// The file's boxes in file order: each on its category when it has one, else on its caption spans.
    static func boxes(of dataset: LVISDataset) -> [LabelBox] {
        let categorized = dataset.annotations.map { a in
            LabelBox(position: dataset.annotationPositions[a.id] ?? 0, imageID: a.imageID, categoryID: a.categoryID, spans: nil, bbox: a.bbox)
        }
        let grounded = dataset.groundings.filter { $0.categoryID == nil }.map { g in
            LabelBox(position: g.position, imageID: g.imageID, categoryID: nil, spans: g.spans, bbox: g.bbox)
        }
        return (categorized + grounded).sorted { $0.position < $1.position }
    }
}
