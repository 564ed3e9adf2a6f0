import Foundation

/// DetCLIPv2's detection and grounding objective on ATSS: L_align (sigmoid focal loss over every location × concept
/// pair, the positives' concept columns 1) + α·L_reg (GIoU of the positives' boxes, weighted by their centerness
/// targets) + β·L_center (BCE of the positives' centerness). Normalized over the batch as mmdetection's ATSS head
/// does: L_align and L_center by the number of positives, L_reg by the sum of centerness targets.
public struct DetCLIPCriterion: Sendable {
    public var alpha: Float = 0.25, gamma: Float = 2
    public var regressionWeight: Float = 2, centernessWeight: Float = 1
    public var assigner = ATSSAssigner()

    public init() {}

    /// One image's boxes (x0, y0, x1, y1 in input pixels) and, per box, its concept's column in the logits.
    public struct Target: Sendable {
        public var boxes: [[Float]]
        public var concepts: [Int]
        public init(boxes: [[Float]], concepts: [Int]) {
            self.boxes = boxes
            self.concepts = concepts
        }
    }

    /// One image's unnormalized terms.
    public struct ImageTerms {
        public var align: Variable
        public var regression: Variable?, centerness: Variable?
        public var positives: Int
        public var centernessSum: Float
    }

    /// The terms of one image: its levels (finest first), its logits (N locations, K concepts) and its target.
    public func terms(levels: [RegionHead<Variable>.Level], logits: Variable, strides: [Int], target: Target) -> ImageTerms {
        let sizes = levels.map { (height: $0.distances.shape[1], width: $0.distances.shape[2]) }
        let locations = ATSSAssigner.locations(sizes: sizes, strides: strides)
        var ranges: [Range<Int>] = [], start = 0
        for s in sizes { ranges.append(start..<(start + s.height * s.width)); start += s.height * s.width }
        let owner = assigner.assign(locations, levels: ranges, boxes: target.boxes)
        let k = logits.shape[1]
        var labels = Tensor(zeros: logits.shape)
        var positives: [Int] = [], gtBoxes: [Float] = [], signs: [Float] = [], centers: [Float] = [], weights: [Float] = []
        for (n, g) in owner.enumerated() where g >= 0 {
            labels.data[n * k + target.concepts[g]] = 1
            positives.append(n)
            let p = locations[n], box = target.boxes[g]
            gtBoxes += box
            signs += [-p.stride, -p.stride, p.stride, p.stride]
            centers += [p.x, p.y, p.x, p.y]
            weights.append(ATSSAssigner.centerness(ATSSAssigner.distances(p, box)))
        }
        let align = logits.sigmoidFocalLoss(targets: labels, alpha: alpha, gamma: gamma)
        guard !positives.isEmpty else { return ImageTerms(align: align, positives: 0, centernessSum: 0) }
        let count = positives.count
        // Predicted boxes of the positives: location ∓ distance · stride, (P, 4) xyxy.
        let distances = Variable.concat(rows: levels.map { $0.distances.reshaped([4, $0.distances.shape[1] * $0.distances.shape[2]]).transposed() })
            .gather(rows: positives)
        let predicted = distances * Variable(Tensor(shape: [count, 4], data: signs)) + Variable(Tensor(shape: [count, 4], data: centers))
        let giou = BoxOps.pairwiseGIoU(predicted, Variable(Tensor(shape: [count, 4], data: gtBoxes)))   // (P, 1)
        let regression = ((Variable(Tensor(repeating: 1, shape: [count, 1])) - giou) * Variable(Tensor(shape: [count, 1], data: weights))).sum()
        let centerness = Variable.concat(rows: levels.map { $0.centerness.reshaped([$0.centerness.shape[1] * $0.centerness.shape[2], 1]) })
            .gather(rows: positives).binaryCrossEntropyWithLogits(targets: Tensor(shape: [count, 1], data: weights))
        return ImageTerms(align: align, regression: regression, centerness: centerness, positives: count,
                          centernessSum: weights.reduce(0, +))
    }

    /// The batch's loss and its terms (already weighted) for logging.
    public func loss(_ images: [ImageTerms]) -> (total: Variable, terms: [String: Float]) {
        let positives = Float(max(1, images.reduce(0) { $0 + $1.positives }))
        let weightSum = max(1e-6, images.reduce(0) { $0 + $1.centernessSum })
        let align = Variable.sum(images.map(\.align)) * (1 / positives)
        var total = align, terms = ["align": align.value.data[0]]
        let regressions = images.compactMap(\.regression), centers = images.compactMap(\.centerness)
        if !regressions.isEmpty {
            let regression = Variable.sum(regressions) * (regressionWeight / weightSum)
            let center = Variable.sum(centers) * (centernessWeight / positives)
            total = total + regression + center
            terms["reg"] = regression.value.data[0]
            terms["center"] = center.value.data[0]
        }
        terms["positives"] = positives
        return (total, terms)
    }
}
