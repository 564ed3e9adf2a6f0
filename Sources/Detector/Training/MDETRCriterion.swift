import Foundation

/// MDETR's objective (`SetCriterion` + `HungarianMatcher`, reference §5): per decoder layer, a Hungarian matching
/// (cost 1·class + 5·L1 + 2·GIoU), then soft-token cross-entropy (binary positive map, no-object weight 0.1), L1 and
/// GIoU box losses and the contrastive alignment loss (τ 0.07, both directions), weighted 1 / 5 / 2 / 1, summed over
/// the last layer and every auxiliary layer. Terms are sums over the batch divided by the batch's number of boxes.
public struct MDETRCriterion {
    /// One image's ground truth.
    public struct Target {
        public var boxes: [[Float]]          // (T) × (cx, cy, w, h), relative to the image
        public var positiveMap: Tensor       // (T, 256) binary: the tokens each box's phrase covers
        public init(boxes: [[Float]], positiveMap: Tensor) {
            self.boxes = boxes
            self.positiveMap = positiveMap
        }
    }

    public var costClass: Float = 1, costBBox: Float = 5, costGIoU: Float = 2
    public var weightCE: Float = 1, weightBBox: Float = 5, weightGIoU: Float = 2, weightAlign: Float = 1
    public var noObjectWeight: Float = 0.1
    /// Weight of the encoder alignment term (0: MDETR's objective exactly). See `encoderAlignment`.
    public var weightEncoderAlign: Float = 0
    public var temperature: Float = 0.07

    public init() {}

    /// The weighted total and each named term (`loss_ce`, `loss_bbox_0` …, as the official logs name them) for a
    /// batch, given each image's outputs and target.
    public func loss(_ batch: [(TrainableMDETR.Outputs, Target)]) -> (total: Variable, terms: [String: Float]) {
        let numBoxes = Float(max(1, batch.reduce(0) { $0 + $1.1.boxes.count }))
        var total: [Variable] = []
        var terms: [String: Float] = [:]
        let layerCount = batch.first?.0.layers.count ?? 0
        for layer in 0..<layerCount {
            // The last layer's terms are unsuffixed; auxiliary layer i gets "_i".
            let suffix = layer == layerCount - 1 ? "" : "_\(layer)"
            var parts: [String: [Variable]] = [:]
            for (outputs, target) in batch {
                let o = outputs.layers[layer]
                let matches = match(o, target)
                for (name, v) in imageTerms(o, tokens: outputs.projectedTokens, target: target, matches: matches) {
                    parts[name, default: []].append(v)
                }
            }
            for (name, weight) in [("loss_ce", weightCE), ("loss_bbox", weightBBox), ("loss_giou", weightGIoU),
                                   ("loss_contrastive_align", weightAlign)] {
                guard let vs = parts[name], !vs.isEmpty else { continue }
                let term = Variable.sum(vs) * (1 / numBoxes)
                terms[name + suffix] = term.value.data[0]
                total.append(term * weight)
            }
        }
        if weightEncoderAlign > 0 {
            let parts = batch.compactMap { encoderAlignment($0.0, $0.1) }
            if !parts.isEmpty {
                let term = Variable.sum(parts) * (1 / numBoxes)
                terms["loss_encoder_align"] = term.value.data[0]
                total.append(term * weightEncoderAlign)
            }
        }
        let sum = Variable.sum(total)
        terms["loss"] = sum.value.data[0]
        return (sum, terms)
    }

    /// Optimal (query, target) pairs for one image and layer; no gradient.
    public func match(_ o: TrainableMDETR.Outputs.Layer, _ target: Target) -> [(query: Int, target: Int)] {
        let t = target.boxes.count
        guard t > 0 else { return [] }
        let q = o.logits.shape[0], slots = o.logits.shape[1]
        let probabilities = softmaxLastAxis(o.logits.value)
        let predicted = (0..<q).map { Array(o.boxes.value.data[($0 * 4)..<($0 * 4 + 4)]) }
        let giou = BoxOps.giouMatrix(predicted.map(BoxOps.xyxy), target.boxes.map(BoxOps.xyxy))
        var cost = [[Double]](repeating: [Double](repeating: 0, count: t), count: q)
        for i in 0..<q {
            for j in 0..<t {
                var mass: Float = 0
                for s in 0..<slots { mass += probabilities.data[i * slots + s] * target.positiveMap.data[j * slots + s] }
                var l1: Float = 0
                for c in 0..<4 { l1 += abs(predicted[i][c] - target.boxes[j][c]) }
                cost[i][j] = Double(costBBox * l1 - costClass * mass - costGIoU * giou[i][j])
            }
        }
        return HungarianMatcher.solve(cost).map { (query: $0.row, target: $0.column) }
    }

    /// One image's unnormalized loss terms for one layer.
    func imageTerms(_ o: TrainableMDETR.Outputs.Layer, tokens: Variable?, target: Target,
                    matches: [(query: Int, target: Int)]) -> [String: Variable] {
        let q = o.logits.shape[0], slots = o.logits.shape[1]
        // Soft-token CE: unmatched queries aim at slot 255 (no-object) with weight 0.1, matched ones at their
        // target's positive tokens (the sum of −log p over them), weight 1.
        var weights = [Float](repeating: 0, count: q * slots)
        for i in 0..<q { weights[i * slots + PostProcess.noObject] = noObjectWeight }
        for (qi, ti) in matches {
            weights[qi * slots + PostProcess.noObject] = 0
            for s in 0..<slots { weights[qi * slots + s] = target.positiveMap.data[ti * slots + s] }
        }
        var out: [String: Variable] = [:]
        out["loss_ce"] = (o.logits.logSoftmax() * Variable(Tensor(shape: [q, slots], data: weights.map { -$0 }))).sum()
        guard !matches.isEmpty else { return out }
        let predicted = o.boxes.gather(rows: matches.map(\.query))                                   // (M, 4)
        let goal = Variable(Tensor(shape: [matches.count, 4], data: matches.flatMap { target.boxes[$0.target] }))
        out["loss_bbox"] = (predicted - goal).abs().sum()
        let giou = BoxOps.pairwiseGIoU(BoxOps.xyxy(predicted), BoxOps.xyxy(goal))                   // (M, 1)
        out["loss_giou"] = (Variable(Tensor(repeating: 1, shape: giou.shape)) - giou).sum()
        if let projected = o.projectedQueries, let tokens {
            out["loss_contrastive_align"] = alignment(projected, tokens, target: target, matches: matches)
        }
        return out
    }

    /// Encoder alignment (a training aid beyond MDETR, after GLIP's region–word alignment in the fusion encoder):
    /// every positive caption token should pick out, among the encoder's image tokens, those whose cells lie inside
    /// its boxes — per token, logsumexp over all image tokens minus logsumexp over the inside ones (τ as above),
    /// summed over the image's positive tokens. It gives the encoder dense, text-conditioned localisation gradients
    /// from the first step, which the decoder's sparse matched boxes take long to provide. A box smaller than a cell
    /// claims the cell holding its centre. Nil for an image without boxes.
    func encoderAlignment(_ outputs: TrainableMDETR.Outputs, _ target: Target) -> Variable? {
        guard let image = outputs.projectedImageTokens, let tokens = outputs.projectedTokens, !target.boxes.isEmpty else { return nil }
        let (h, w) = outputs.grid
        let n = h * w, l = tokens.shape[0], slots = target.positiveMap.shape[1]
        var inside = [[Bool]](repeating: [Bool](repeating: false, count: n), count: l)
        for (b, box) in target.boxes.enumerated() {
            var cells: [Int] = []
            for r in 0..<h {
                let y = (Float(r) + 0.5) / Float(h)
                guard abs(y - box[1]) <= box[3] / 2 else { continue }
                for c in 0..<w where abs((Float(c) + 0.5) / Float(w) - box[0]) <= box[2] / 2 { cells.append(r * w + c) }
            }
            if cells.isEmpty { cells = [min(h - 1, Int(box[1] * Float(h))) * w + min(w - 1, Int(box[0] * Float(w)))] }
            for t in 0..<min(l, slots) where target.positiveMap.data[b * slots + t] > 0 { for cell in cells { inside[t][cell] = true } }
        }
        let used = (0..<l).filter { inside[$0].contains(true) }
        guard !used.isEmpty else { return nil }
        let logits = Variable.matmul(tokens.gather(rows: used), image, transposingB: true) * (1 / temperature)   // (U, h·w)
        let outside = Tensor(shape: [used.count, n], data: used.flatMap { t in inside[t].map { $0 ? 0 : -1e4 } })
        return logits.logSumExp().sum() - (logits + Variable(outside)).logSumExp().sum()
    }

    /// Contrastive alignment: logits = ⟨query, token⟩ / τ over ALL L tokens (specials and padding included, as
    /// upstream); box→token for queries with a positive token, token→box for tokens with a positive query; each
    /// −mean(positive logits) + logsumexp; (Σ box→token + Σ token→box) / 2.
    func alignment(_ queries: Variable, _ tokens: Variable, target: Target, matches: [(query: Int, target: Int)]) -> Variable {
        let q = queries.shape[0], l = tokens.shape[0], slots = target.positiveMap.shape[1]
        let logits = Variable.matmul(queries, tokens, transposingB: true) * (1 / temperature)        // (Q, L)
        var positive = [Float](repeating: 0, count: q * l)
        for (qi, ti) in matches { for t in 0..<min(l, slots) where target.positiveMap.data[ti * slots + t] > 0 { positive[qi * l + t] = 1 } }
        func direction(_ logits: Variable, _ positive: [Float], rows: Int, columns: Int) -> Variable {
            var meanWeights = [Float](repeating: 0, count: rows * columns)
            var rowMask = [Float](repeating: 0, count: rows)
            for r in 0..<rows {
                let n = (0..<columns).reduce(Float(0)) { $0 + positive[r * columns + $1] }
                guard n > 0 else { continue }
                rowMask[r] = 1
                // Upstream divides by (count + 1e-6).
                for c in 0..<columns { meanWeights[r * columns + c] = -positive[r * columns + c] / (n + 1e-6) }
            }
            let positives = (logits * Variable(Tensor(shape: [rows, columns], data: meanWeights))).sum()
            let normalizer = (logits.logSumExp() * Variable(Tensor(shape: [rows], data: rowMask))).sum()
            return positives + normalizer
        }
        var transposedPositive = [Float](repeating: 0, count: q * l)
        for i in 0..<q { for t in 0..<l { transposedPositive[t * q + i] = positive[i * l + t] } }
        let boxToToken = direction(logits, positive, rows: q, columns: l)
        let tokenToBox = direction(logits.transposed(), transposedPositive, rows: l, columns: q)
        return (boxToToken + tokenToBox) * 0.5
    }
}
