import Foundation

/// DetCLIPv2 behind the library's `ImageDetector` API. Any vocabulary is one image pass and one matrix product with
/// concept embeddings computed once per (model, vocabulary version, prompts) — kept in memory and, when the query
/// gives a store, across restarts. A location's score for a concept is √(σ(logit) · σ(centerness)) (ATSS ranks by the
/// product; the square root keeps it a probability-like number); the best `candidates` (location, concept) pairs go
/// through class-wise NMS and the merge settings.
public final class DetCLIPDetector: ImageDetector, @unchecked Sendable {
    public let identity: ModelIdentity
    public let model: DetCLIPModel
    public let normalization: ImageNormalization
    /// Input resize (shorter side, longer at most); nil feeds the image at its own size.
    public var resize: (size: Int, maxSize: Int?)? = (800, 1333)
    /// Free-text prompts and grounding keep boxes above this.
    public var threshold: Float = 0.5
    /// (location, concept) pairs kept before NMS, and the NMS IoU applied to vocabularies when the merge settings
    /// name none (a dense head answers each object from many locations).
    public var candidates = 3000, nmsIoU: Float = 0.6
    private var vocabularyCache: (key: String, concepts: Tensor)?

    /// DetCLIPv2's concept enrichment: "name: definition".
    public var preferredTemplate: PromptTemplate { .nameAndDefinition }

    public init(model: DetCLIPModel, identity: ModelIdentity, normalization: ImageNormalization) {
        self.model = model
        self.identity = identity
        self.normalization = normalization
    }

    /// An image's regions and how its input was scaled from the original.
    struct Prepared {
        var regions: DetCLIPModel.Regions
        var scale: (x: Float, y: Float)
        var width: Int, height: Int
    }

    func prepare(_ image: RGBImage) -> Prepared {
        var input = image
        if let resize {
            let (w, h) = Preprocessing.evalSize(width: image.width, height: image.height, size: resize.size, maxSize: resize.maxSize)
            input = PillowResize.bilinear(image, width: w, height: h)
        }
        return Prepared(regions: model.regions(Preprocessing.tensor(input, normalization: normalization)),
                        scale: (Float(image.width) / Float(input.width), Float(image.height) / Float(input.height)),
                        width: image.width, height: image.height)
    }

    /// The best (location, concept, score) pairs of the image against unit concepts, best first; rows of logits are
    /// made a block at a time, so a 10,000-concept vocabulary never holds every score at once.
    func scored(_ p: Prepared, concepts: Tensor, limit: Int, floor: Float = 0) -> [(location: Int, concept: Int, score: Float)] {
        let n = p.regions.embeddings.shape[0], k = concepts.shape[0]
        guard n > 0, k > 0, limit > 0 else { return [] }
        var heap = ScoreHeap(capacity: limit)
        let block = max(1, (1 << 20) / k)
        for start in stride(from: 0, to: n, by: block) {
            let rows = start..<min(n, start + block)
            let logits = model.logits(p.regions.embeddings.slice(rows: rows), concepts: concepts)   // (rows, K)
            for (r, location) in rows.enumerated() {
                let center = 1 / (1 + expf(-p.regions.centerness[location]))
                // Only a logit above this can beat the heap's worst (or the floor): √(σ(c)·σ(l)) > t ⇔ σ(l) > t²/σ(c).
                let t = max(floor, heap.minimum ?? floor), needed = t * t / center
                guard needed < 1 else { continue }
                let least = needed > 0 ? logf(needed / (1 - needed)) : -Float.infinity
                for c in 0..<k where !(logits.data[r * k + c] <= least) {
                    let score = (center / (1 + expf(-logits.data[r * k + c]))).squareRoot()
                    if score > floor, score.isFinite { heap.offer((location, c, score)) }
                }
            }
        }
        return heap.sortedDescending()
    }

    /// A box in the original image's pixels, inside it.
    func box(_ p: Prepared, _ location: Int) -> Box {
        let b = p.regions.boxes[location]
        func clamp(_ v: Float, _ hi: Int) -> Float { v.isFinite ? min(max(v, 0), Float(hi)) : 0 }
        return Box(x0: clamp(b.x0 * p.scale.x, p.width), y0: clamp(b.y0 * p.scale.y, p.height),
                   x1: clamp(b.x1 * p.scale.x, p.width), y1: clamp(b.y1 * p.scale.y, p.height))
    }

    public func detect(_ image: RGBImage, prompts: [String]) throws -> [Detection] {
        let texts = try prompts.map { try Self.checked($0) }
        let p = prepare(image)
        let found = classwise(p, scored(p, concepts: model.encodeConcepts(texts), limit: candidates, floor: threshold), iou: nmsIoU)
        return found.map { Detection(box: $0.box, score: $0.score, label: texts[$0.concept], prompt: texts[$0.concept]) }
    }

    public func detect(_ image: RGBImage, caption: String, phrases: [Range<Int>]) throws -> [Detection] {
        let scalars = Array(caption.unicodeScalars)
        let texts = try phrases.map { span -> String in
            guard span.lowerBound >= 0, span.upperBound <= scalars.count, !span.isEmpty else { throw DetectorError.emptyPrompt }
            return try Self.checked(scalars.text(span))
        }
        let p = prepare(image)
        // Each box once, named after its best phrase.
        var best: [Int: (concept: Int, score: Float)] = [:]
        for s in scored(p, concepts: model.encodeConcepts(texts), limit: candidates, floor: threshold) where best[s.location] == nil {
            best[s.location] = (s.concept, s.score)
        }
        let order = best.keys.sorted { best[$0]!.score != best[$1]!.score ? best[$0]!.score > best[$1]!.score : $0 < $1 }
        let boxes = order.map { box(p, $0) }
        return Box.suppress(boxes, order: Array(boxes.indices), threshold: nmsIoU).map { i in
            Detection(box: boxes[i], score: best[order[i]]!.score, label: texts[best[order[i]]!.concept], prompt: caption)
        }
    }

    public func detect(_ image: RGBImage, vocabulary query: VocabularyQuery,
                       progress: ((_ done: Int, _ total: Int) -> Void)?) throws -> VocabularyAnswer {
        let (concepts, fromStore) = try vocabularyConcepts(query)
        let p = prepare(image)
        let limit = query.merge.topN > 0 ? max(candidates, query.merge.topN) : candidates
        let found = classwise(p, scored(p, concepts: concepts, limit: limit, floor: query.merge.scoreThreshold),
                              iou: query.merge.nmsIoU ?? nmsIoU)
        let detections = found.map {
            CategoryDetection(categoryID: query.categories[$0.concept].categoryID, prompt: query.categories[$0.concept].prompt,
                              box: $0.box, score: $0.score)
        }
        progress?(1, 1)
        var merge = query.merge
        merge.nmsIoU = nil   // applied above
        return VocabularyAnswer(detections: MDETRDetector.merge(detections, settings: merge), passes: 1, textFromStore: fromStore)
    }

    /// Class-wise NMS over scored pairs (best first), boxes in original pixels.
    func classwise(_ p: Prepared, _ pairs: [(location: Int, concept: Int, score: Float)], iou: Float)
        -> [(concept: Int, box: Box, score: Float)] {
        var byConcept: [Int: [(box: Box, score: Float)]] = [:]
        for s in pairs { byConcept[s.concept, default: []].append((box(p, s.location), s.score)) }
        var out: [(concept: Int, box: Box, score: Float)] = []
        for concept in byConcept.keys.sorted() {
            let group = byConcept[concept]!
            for i in Box.suppress(group.map(\.box), order: Array(group.indices), threshold: iou) {
                out.append((concept, group[i].box, group[i].score))
            }
        }
        return out.sorted { $0.score != $1.score ? $0.score > $1.score : $0.concept < $1.concept }
    }

    /// The vocabulary's unit concept embeddings: from memory, the store, or encoded now (and stored).
    func vocabularyConcepts(_ query: VocabularyQuery) throws -> (Tensor, Bool) {
        let texts = try query.categories.map { try Self.checked($0.prompt) }
        let key = conceptKey(query.version, texts)
        if let cached = vocabularyCache, cached.key == key { return (cached.concepts, false) }
        let d = model.config.alignDim
        if let data = query.store?.load(key: key), data.count == texts.count * d * 4 {
            let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            if values.allSatisfy(\.isFinite) {
                let concepts = Tensor(shape: [texts.count, d], data: values)
                vocabularyCache = (key, concepts)
                return (concepts, true)
            }
        }
        let concepts = model.encodeConcepts(texts)
        vocabularyCache = (key, concepts)
        query.store?.save(key: key, data: concepts.data.withUnsafeBytes { Data($0) })
        return (concepts, false)
    }

    /// Hex SHA-256 over what a vocabulary's concept embeddings depend on: this code's revision, the weights, the
    /// vocabulary's version and every prompt (length-prefixed, so no two vocabularies hash alike).
    func conceptKey(_ version: String, _ texts: [String]) -> String {
        var hash = FieldHash()
        for field in ["pipelined detclip concepts 1", identity.weightsSHA256, "\(identity.name)@\(identity.version)", version] + texts {
            hash.add(field)
        }
        return hash.hex()
    }

    static func checked(_ prompt: String) throws -> String {
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw DetectorError.emptyPrompt }
        return prompt
    }
}

/// The `capacity` best (location, concept, score) triples seen, as a min-heap on score.
struct ScoreHeap {
    typealias Entry = (location: Int, concept: Int, score: Float)
    let capacity: Int
    private var items: [Entry] = []

    init(capacity: Int) { self.capacity = capacity }

    /// The worst score kept once the heap is full (nil before: anything is taken).
    var minimum: Float? { items.count == capacity ? items.first?.score : nil }

    mutating func offer(_ e: Entry) {
        if items.count < capacity {
            items.append(e)
            var i = items.count - 1
            while i > 0, items[(i - 1) / 2].score > items[i].score { items.swapAt(i, (i - 1) / 2); i = (i - 1) / 2 }
        } else if let top = items.first, e.score > top.score {
            items[0] = e
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l].score < items[m].score { m = l }
                if r < items.count, items[r].score < items[m].score { m = r }
                guard m != i else { break }
                items.swapAt(i, m)
                i = m
            }
        }
    }

    func sortedDescending() -> [Entry] {
        items.sorted { $0.score != $1.score ? $0.score > $1.score : ($0.location, $0.concept) < ($1.location, $1.concept) }
    }
}
