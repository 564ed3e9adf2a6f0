import Foundation

/// MDETR's few-shot LVIS data (`lvis_coco_format.py`, see reference/mdetr.md §4.2): which images a 1 % / 10 % run
/// sees, the records it trains on, and — beyond MDETR, against its rare-class collapse at 100 % — repeat-factor
/// sampling (Gupta et al., LVIS 2019) applied to those records.
public enum FewShot {
    /// One training record as MDETR builds them from an LVIS image: a positive category with all its boxes, or a
    /// negative category with none. Categories neither positive nor negative for the image are never asked.
    public struct Record: Sendable, Equatable {
        public var imageID: Int
        public var categoryID: Int
        public var boxes: [[Double]]          // x, y, w, h in pixels; empty for a negative record
        public var isPositive: Bool { !boxes.isEmpty }
    }

    /// Every image's records, positives first, in category order.
    public static func records(_ dataset: LVISDataset, images: Set<Int>? = nil) -> [Record] {
        var boxes: [Int: [Int: [[Double]]]] = [:]
        for a in dataset.annotations where images?.contains(a.imageID) ?? true {
            boxes[a.imageID, default: [:]][a.categoryID, default: []].append([a.bbox.x, a.bbox.y, a.bbox.w, a.bbox.h])
        }
        var out: [Record] = []
        for image in dataset.images where images?.contains(image.id) ?? true {
            for (category, b) in (boxes[image.id] ?? [:]).sorted(by: { $0.key < $1.key }) {
                out.append(Record(imageID: image.id, categoryID: category, boxes: b))
            }
            for category in image.negativeCategories.sorted() where boxes[image.id]?[category] == nil {
                out.append(Record(imageID: image.id, categoryID: category, boxes: []))
            }
        }
        return out
    }

    /// MDETR's class-balanced subset of `fraction` of the images: nine picks in ten take an unchosen image holding
    /// the category with the fewest positive images chosen so far, every tenth the same for negative images. Ties
    /// go to the lower category id; the image among candidates is drawn with `seed`. Returns image ids.
    public static func classBalancedSubset(_ dataset: LVISDataset, fraction: Double, seed: UInt64 = 42) -> Set<Int> {
        let target = min(dataset.images.count, max(1, Int(Double(dataset.images.count) * fraction)))
        guard target < dataset.images.count else { return Set(dataset.images.map(\.id)) }
        var positiveImages: [Int: [Int]] = [:], negativeImages: [Int: [Int]] = [:]
        var positivesOf: [Int: Set<Int>] = [:]
        for a in dataset.annotations { positivesOf[a.imageID, default: []].insert(a.categoryID) }
        for image in dataset.images {
            for c in positivesOf[image.id] ?? [] { positiveImages[c, default: []].append(image.id) }
            for c in image.negativeCategories { negativeImages[c, default: []].append(image.id) }
        }
        let negativesOf = Dictionary(uniqueKeysWithValues: dataset.images.map { ($0.id, $0.negativeCategories) })
        var positiveCount: [Int: Int] = [:], negativeCount: [Int: Int] = [:]
        var chosen = Set<Int>()
        var rng = SplitMix64(seed: seed)
        var pick = 0
        while chosen.count < target {
            let negativeTurn = pick % 10 == 9
            pick += 1
            let pool = negativeTurn ? negativeImages : positiveImages
            let counts = negativeTurn ? negativeCount : positiveCount
            // The least-represented category that still has an unchosen image.
            var best: (count: Int, category: Int, images: [Int])?
            for (c, images) in pool {
                let count = counts[c] ?? 0
                if let b = best, (count, c) >= (b.count, b.category) { continue }
                let open = images.filter { !chosen.contains($0) }
                if !open.isEmpty { best = (count, c, open) }
            }
            guard let best else {
                if negativeTurn { continue }
                // No positive category has images left: fill up at random.
                let rest = dataset.images.map(\.id).filter { !chosen.contains($0) }
                chosen.insert(rest[rng.int(0...(rest.count - 1))])
                continue
            }
            let image = best.images[rng.int(0...(best.images.count - 1))]
            chosen.insert(image)
            for c in positivesOf[image] ?? [] { positiveCount[c, default: 0] += 1 }
            for c in negativesOf[image] ?? [] { negativeCount[c, default: 0] += 1 }
        }
        return chosen
    }

    /// LVIS's repeat factors: a category seen in a fraction f of the images gets r = max(1, √(t / f)). LVIS uses
    /// t = 0.001 on its 100k images; a small label set needs a larger t for anything to repeat.
    public static func repeatFactors(_ dataset: LVISDataset, images: Set<Int>? = nil, threshold: Double = 0.001) -> [Int: Double] {
        var holders: [Int: Set<Int>] = [:]
        for a in dataset.annotations where images?.contains(a.imageID) ?? true { holders[a.categoryID, default: []].insert(a.imageID) }
        let total = Double(images?.count ?? dataset.images.count)
        return holders.mapValues { max(1, (threshold / (Double($0.count) / max(total, 1))).squareRoot()) }
    }

    /// One epoch with repeat-factor sampling: item i appears ⌊r_i⌋ times and once more with probability r_i − ⌊r_i⌋.
    /// Returns indices, unshuffled.
    public static func repeatedEpoch(factors: [Double], rng: inout SplitMix64) -> [Int] {
        var out: [Int] = []
        for (i, factor) in factors.enumerated() {
            var n = Int(factor.rounded(.down))
            if rng.uniform(0, 1) < factor - Double(n) { n += 1 }
            out += Array(repeating: i, count: n)
        }
        return out
    }

    /// Records' repeat factors: a positive record gets its category's, a negative record 1.
    public static func recordFactors(_ records: [Record], categories: [Int: Double]) -> [Double] {
        records.map { $0.isPositive ? categories[$0.categoryID] ?? 1 : 1 }
    }
}
