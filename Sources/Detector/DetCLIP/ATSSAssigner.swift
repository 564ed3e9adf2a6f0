import Foundation

/// Where a dense head's locations are, and ATSS's choice of which locations learn which box (Zhang et al., "Bridging
/// the Gap Between Anchor-based and Anchor-free Detection via Adaptive Training Sample Selection"): per box, the k
/// locations of each level nearest its centre are candidates; those whose anchor (a square of `anchorScale` strides
/// around the location) overlaps the box by at least the candidates' mean + standard deviation of IoU, and whose centre
/// lies inside the box, are positives; a location claimed by several boxes keeps the one it overlaps most.
public struct ATSSAssigner: Sendable {
    /// One location of the pyramid: its centre in input pixels and its level's stride.
    public struct Location: Sendable, Equatable {
        public var x: Float, y: Float, stride: Float
    }

    public var topK = 9
    public var anchorScale: Float = 8

    public init() {}

    /// Every location of levels of the given sizes, finest level first, row-major within a level — the order of the
    /// head's outputs. A location sits at the centre of its cell: ((j + ½)·s, (i + ½)·s).
    public static func locations(sizes: [(height: Int, width: Int)], strides: [Int]) -> [Location] {
        var out: [Location] = []
        for ((h, w), s) in zip(sizes, strides) {
            for i in 0..<h { for j in 0..<w { out.append(Location(x: (Float(j) + 0.5) * Float(s), y: (Float(i) + 0.5) * Float(s), stride: Float(s))) } }
        }
        return out
    }

    /// For each location, the index of the box it learns, or −1 (background). Boxes are (x0, y0, x1, y1) in input
    /// pixels; `levels` are the index ranges of each level's locations.
    public func assign(_ locations: [Location], levels: [Range<Int>], boxes: [[Float]]) -> [Int] {
        var owner = [Int](repeating: -1, count: locations.count)
        var ownerIoU = [Float](repeating: -1, count: locations.count)
        for (g, box) in boxes.enumerated() {
            let (cx, cy) = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            var candidates: [Int] = []
            for range in levels {
                let nearest = range.sorted { a, b in
                    let da = (locations[a].x - cx) * (locations[a].x - cx) + (locations[a].y - cy) * (locations[a].y - cy)
                    let db = (locations[b].x - cx) * (locations[b].x - cx) + (locations[b].y - cy) * (locations[b].y - cy)
                    return da != db ? da < db : a < b
                }
                candidates += nearest.prefix(topK)
            }
            let target = Box(x0: box[0], y0: box[1], x1: box[2], y1: box[3])
            let ious = candidates.map { anchor(locations[$0]).iou(target) }
            let mean = ious.reduce(0, +) / Float(max(ious.count, 1))
            // torch.std: the unbiased estimate (n − 1), as mmdetection's ATSSAssigner computes it.
            let variance = ious.count > 1 ? ious.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(ious.count - 1) : 0
            let threshold = mean + variance.squareRoot()
            for (c, location) in candidates.enumerated() where ious[c] >= threshold {
                let p = locations[location]
                guard min(p.x - box[0], p.y - box[1], box[2] - p.x, box[3] - p.y) > 0.01 else { continue }
                if ious[c] > ownerIoU[location] { (owner[location], ownerIoU[location]) = (g, ious[c]) }
            }
        }
        return owner
    }

    func anchor(_ p: Location) -> Box {
        let half = anchorScale * p.stride / 2
        return Box(x0: p.x - half, y0: p.y - half, x1: p.x + half, y1: p.y + half)
    }

    /// The regression target of a location for a box: distances to its left, top, right and bottom in strides.
    public static func distances(_ p: Location, _ box: [Float]) -> [Float] {
        [(p.x - box[0]) / p.stride, (p.y - box[1]) / p.stride, (box[2] - p.x) / p.stride, (box[3] - p.y) / p.stride]
    }

    /// FCOS's centerness of a location inside its box: √(min(l, r)/max(l, r) · min(t, b)/max(t, b)).
    public static func centerness(_ d: [Float]) -> Float {
        let lr = min(d[0], d[2]) / max(d[0], d[2]), tb = min(d[1], d[3]) / max(d[1], d[3])
        return (max(lr, 0) * max(tb, 0)).squareRoot()
    }
}
