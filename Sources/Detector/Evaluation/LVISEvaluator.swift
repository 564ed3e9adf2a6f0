import Foundation

/// LVIS-style box evaluation, computed exactly as the official `lvis` package (0.5.3, `LVISEval` with
/// `iou_type="bbox"`): federated semantics (a detection counts only for categories the image is labelled positive or
/// negative for; unmatched detections of not-exhaustive categories are ignored), COCO-style greedy matching at ten IoU
/// thresholds, 101-point interpolated precision, AP over all/small/medium/large and over rare/common/frequent
/// categories, and recall. Both protocols: the standard one (at most `maxDetsPerImage` per image, default 300) and
/// Fixed AP (top `topKPerCategory` per category over the dataset, no per-image cap).
public struct LVISEvaluator: Sendable {
    public struct Image: Sendable {
        public var id: Int
        public var negativeCategories: Set<Int>
        public var notExhaustiveCategories: Set<Int>
        public init(id: Int, negativeCategories: Set<Int>, notExhaustiveCategories: Set<Int>) {
            self.id = id
            self.negativeCategories = negativeCategories
            self.notExhaustiveCategories = notExhaustiveCategories
        }
    }

    public struct Category: Sendable {
        public var id: Int
        /// "r", "c" or "f".
        public var frequency: String
        public init(id: Int, frequency: String) {
            self.id = id
            self.frequency = frequency
        }
    }

    public struct Annotation: Sendable {
        public var imageID: Int, categoryID: Int
        public var bbox: (x: Double, y: Double, w: Double, h: Double)
        public var area: Double
        public var id: Int
        public init(id: Int, imageID: Int, categoryID: Int, bbox: (x: Double, y: Double, w: Double, h: Double), area: Double) {
            self.id = id
            self.imageID = imageID
            self.categoryID = categoryID
            self.bbox = bbox
            self.area = area
        }
    }

    public struct Result: Sendable {
        public var imageID: Int, categoryID: Int
        public var bbox: (x: Double, y: Double, w: Double, h: Double)
        public var score: Double
        public init(imageID: Int, categoryID: Int, bbox: (x: Double, y: Double, w: Double, h: Double), score: Double) {
            self.imageID = imageID
            self.categoryID = categoryID
            self.bbox = bbox
            self.score = score
        }

        /// A vocabulary detection of image `imageID` as a results-file entry (corners → x, y, w, h).
        public init(imageID: Int, detection d: CategoryDetection) {
            self.init(imageID: imageID, categoryID: d.categoryID,
                      bbox: (Double(d.box.x0), Double(d.box.y0), Double(d.box.x1 - d.box.x0), Double(d.box.y1 - d.box.y0)),
                      score: Double(d.score))
        }
    }

    public enum EvaluationProtocol: Sendable, Equatable {
        case standard(maxDetsPerImage: Int)
        case fixedAP(topKPerCategory: Int)
    }

    public let images: [Image]
    public let categories: [Category]
    public let annotations: [Annotation]

    public init(images: [Image], categories: [Category], annotations: [Annotation]) {
        self.images = images
        self.categories = categories
        self.annotations = annotations
    }

    /// The metrics in the official order: AP, AP50, AP75, APs, APm, APl, APr, APc, APf, AR@N, ARs@N, ARm@N, ARl@N
    /// (−1 where undefined, as the official code reports).
    public func evaluate(_ results: [Result], protocol p: EvaluationProtocol = .standard(maxDetsPerImage: 300)) -> [(String, Double)] {
        report(results, protocol: p).metrics
    }

    /// The metrics and every category's AP (−1 for a category with nothing to score).
    public struct Report: Sendable {
        public var metrics: [(String, Double)]
        public var perCategoryAP: [Int: Double]
        /// Where keeping every box scoring at least a threshold does best (F1 at IoU 0.5); nil without ground truth.
        public var operatingPoint: OperatingPoint?
    }

    public func report(_ results: [Result], protocol p: EvaluationProtocol = .standard(maxDetsPerImage: 300)) -> Report {
        let selected: [Result]
        let maxDetsLabel: Int
        switch p {
        case let .standard(maxDets):
            selected = Self.limitPerImage(results, maxDets)
            maxDetsLabel = maxDets
        case let .fixedAP(k):
            selected = Self.topKPerCategory(results, k)
            maxDetsLabel = -1
        }
        let e = Accumulated(evaluator: self, results: selected)
        var out: [(String, Double)] = []
        out.append(("AP", e.summarizeAP()))
        out.append(("AP50", e.summarizeAP(iouThreshold: 0.5)))
        out.append(("AP75", e.summarizeAP(iouThreshold: 0.75)))
        out.append(("APs", e.summarizeAP(area: 1)))
        out.append(("APm", e.summarizeAP(area: 2)))
        out.append(("APl", e.summarizeAP(area: 3)))
        out.append(("APr", e.summarizeAP(frequency: "r")))
        out.append(("APc", e.summarizeAP(frequency: "c")))
        out.append(("APf", e.summarizeAP(frequency: "f")))
        out.append(("AR@\(maxDetsLabel)", e.summarizeAR()))
        out.append(("ARs@\(maxDetsLabel)", e.summarizeAR(area: 1)))
        out.append(("ARm@\(maxDetsLabel)", e.summarizeAR(area: 2)))
        out.append(("ARl@\(maxDetsLabel)", e.summarizeAR(area: 3)))
        return Report(metrics: out, perCategoryAP: e.perCategoryAP(), operatingPoint: OperatingPoint(e.outcomes, groundTruth: e.groundTruth))
    }

    /// `LVISResults.limit_dets_per_image`: images in order of first appearance; an image with more than `maxDets`
    /// results keeps its best `maxDets` (stable sort by descending score).
    static func limitPerImage(_ results: [Result], _ maxDets: Int) -> [Result] {
        var order: [Int] = []
        var byImage: [Int: [Result]] = [:]
        for r in results {
            if byImage[r.imageID] == nil { order.append(r.imageID) }
            byImage[r.imageID, default: []].append(r)
        }
        return order.flatMap { id -> [Result] in
            let anns = byImage[id]!
            guard maxDets >= 0, anns.count > maxDets else { return anns }
            return Array(stableSortedByScore(anns).prefix(maxDets))
        }
    }

    /// Fixed AP (Dave et al.): per category the `k` best results over the dataset (stable by descending score), the
    /// categories in order of first appearance.
    static func topKPerCategory(_ results: [Result], _ k: Int) -> [Result] {
        var order: [Int] = []
        var byCategory: [Int: [Result]] = [:]
        for r in results {
            if byCategory[r.categoryID] == nil { order.append(r.categoryID) }
            byCategory[r.categoryID, default: []].append(r)
        }
        return order.flatMap { Array(stableSortedByScore(byCategory[$0]!).prefix(k)) }
    }

    static func stableSortedByScore(_ rs: [Result]) -> [Result] {
        rs.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
        }.map(\.element)
    }

    /// pycocotools' `bbIou` for non-crowd boxes (x, y, w, h).
    static func iou(_ d: (x: Double, y: Double, w: Double, h: Double), _ g: (x: Double, y: Double, w: Double, h: Double)) -> Double {
        let w = min(d.x + d.w, g.x + g.w) - max(d.x, g.x)
        if w <= 0 { return 0 }
        let h = min(d.y + d.h, g.y + g.h) - max(d.y, g.y)
        if h <= 0 { return 0 }
        let i = w * h
        let u = d.w * d.h + g.w * g.h - i
        return i / u
    }
}
