import Foundation

/// One DetCLIPv2 optimisation step per batch, batches holding one kind of data (DetCLIPv2's grouping): detection and
/// grounding images (region–concept alignment, boxes, centerness: `step`), or image–text pairs (the word-region
/// contrastive loss over selected proposals: `alignmentStep`). The backbone and the text encoder are frozen: images
/// arrive as their pyramid features C3–C5, concepts and phrases as their pooled text features.
public final class DetCLIPTrainer {
    public let model: TrainableDetCLIP
    public var criterion = DetCLIPCriterion()
    public var alignment = WordRegionAlignment()
    public let optimizer: AdamW
    public let ema: ExponentialMovingAverage?
    public var clipNorm: Float = 10
    /// Proposals per image for the word-region loss (DetCLIPv2's top-k after NMS) and their NMS IoU.
    public var proposals = 100, proposalIoU: Float = 0.5

    public init(model: TrainableDetCLIP, learningRate: Float, weightDecay: Float = 1e-4, emaDecay: Float? = 0.9998) {
        self.model = model
        optimizer = AdamW(groups: [.init(name: "main", parameters: model.trainableParameters.map(\.1), learningRate: learningRate)],
                          weightDecay: weightDecay)
        ema = emaDecay.map { ExponentialMovingAverage(model, decay: $0) }
    }

    /// A detection or grounding example: C3–C5 of its (resized) image and its boxes, each on a concept's row of the
    /// batch's concepts.
    public struct Example {
        public var features: [Tensor]
        public var target: DetCLIPCriterion.Target
        public init(features: [Tensor], target: DetCLIPCriterion.Target) {
            self.features = features
            self.target = target
        }
    }

    /// `concepts`: pooled text features (K, text hidden) of every concept the batch is scored against — its images'
    /// categories or phrases and sampled negatives.
    @discardableResult
    public func step(_ examples: [Example], concepts pooled: Tensor) -> (terms: [String: Float], gradientNorm: Float) {
        let network = model.network
        let concepts = network.concepts(Variable(pooled))
        let terms = examples.map { example -> DetCLIPCriterion.ImageTerms in
            let levels = network.levels(example.features.map { Variable($0) })
            let logits = network.logits(regions: Variable.concat(rows: levels.map(\.regions)), concepts: concepts)
            return criterion.terms(levels: levels, logits: logits, strides: model.config.strides, target: example.target)
        }
        let (total, values) = criterion.loss(terms)
        total.backward()
        return (values, update())
    }

    /// An image–text pair: C3–C5 of its image and the rows of its caption's phrases in the batch's phrase features.
    public struct CaptionExample {
        public var features: [Tensor]
        public var phrases: Range<Int>
        public init(features: [Tensor], phrases: Range<Int>) {
            self.features = features
            self.phrases = phrases
        }
    }

    /// DetCLIPv2's image–text objective: each region's objectness is its best similarity to any phrase of the batch;
    /// the top `proposals` after NMS are the image's regions; each caption's phrases are matched to every image's
    /// regions (`WordRegionAlignment`). Returns the loss, or nil when fewer than two captions have phrases.
    @discardableResult
    public func alignmentStep(_ examples: [CaptionExample], phrases pooled: Tensor) -> Float? {
        let network = model.network
        let phrases = network.concepts(Variable(pooled))                                      // (P, d) unit rows
        let items = examples.map { example -> WordRegionAlignment.Item in
            let levels = network.levels(example.features.map { Variable($0) })
            let regions = Variable.concat(rows: levels.map(\.regions)).l2NormalizedRows()    // (N, d)
            let chosen = selectProposals(levels: levels, regions: regions.value, phrases: phrases.value)
            return WordRegionAlignment.Item(regions: regions.gather(rows: chosen), tokens: phrases.gather(rows: Array(example.phrases)),
                                            phraseTokens: (0..<example.phrases.count).map { [$0] })
        }
        guard let loss = alignment.loss(items) else { return nil }
        loss.backward()
        _ = update()
        return loss.value.data[0]
    }

    /// Indices of the proposals: by objectness (best cosine to any phrase), NMS on the predicted boxes, top k.
    func selectProposals(levels: [RegionHead<Variable>.Level], regions: Tensor, phrases: Tensor) -> [Int] {
        let n = regions.shape[0], d = regions.shape[1], p = phrases.shape[0]
        var objectness = [Float](repeating: -.infinity, count: n)
        for i in 0..<n { for j in 0..<p {
            var s: Float = 0
            for k in 0..<d { s += regions.data[i * d + k] * phrases.data[j * d + k] }
            objectness[i] = max(objectness[i], s)
        } }
        let boxes = DetCLIPNetwork<Tensor>.boxes(levels.map(\.distances.value), strides: model.config.strides)
        let order = (0..<n).sorted { objectness[$0] != objectness[$1] ? objectness[$0] > objectness[$1] : $0 < $1 }
        return Box.suppress(boxes, order: Array(order.prefix(max(proposals * 10, 1000))), threshold: proposalIoU, limit: proposals)
    }

    /// Clipping, AdamW, the weight average; returns the gradient norm before clipping.
    private func update() -> Float {
        let norm = clipNorm > 0 ? optimizer.clipGradients(maxNorm: clipNorm) : 0
        optimizer.update()
        ema?.update(from: model, updates: optimizer.step - 1)
        return norm
    }
}
