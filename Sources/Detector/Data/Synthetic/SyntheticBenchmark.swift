import Foundation

/// The synthetic LVIS-style benchmark: deterministic scenes of patterned shapes whose categories ("small striped red
/// star") follow a long tail, with federated labels (positive, negative, not-exhaustive categories per image),
/// captions and referring expressions with character spans, caption-only images, and train/val/test splits.
/// See docs/synthetic-benchmark.md for the design and the dataset card.
public struct SyntheticBenchmark: Sendable {
    public struct Options: Sendable {
        public var seed: UInt64 = 0
        public var categories = 300
        public var trainImages = 3000, valImages = 300, testImages = 300
        /// Train images that carry only a caption (no boxes, not in the LVIS file): DetCLIPv2-style data.
        public var captionOnlyFraction = 0.1
        /// Mean labelled objects per image the long tail is scaled to.
        public var objectsPerImage = 7.0
        public init() {}
    }

    public enum Split: String, Sendable, CaseIterable {
        case train, val, test
        var stream: UInt64 { UInt64(Split.allCases.firstIndex(of: self)! + 1) }
    }

    public struct Category: Sendable {
        public let id: Int
        public let combination: SyntheticTaxonomy.Combination
        public let name: String
        /// Position in the long tail (0 = most frequent by design).
        public let rank: Int
    }

    /// What one image is to contain, decided for the whole split before any image is drawn.
    public struct ImagePlan: Sendable {
        public let id: Int
        public let split: Split
        public let index: Int
        public var categoryIDs: [Int] = []
        public var captionOnly = false
        public var fileName: String { "\(split.rawValue)/\(String(format: "%06d", id)).jpg" }
    }

    public struct Phrase: Sendable {
        public var span: Range<Int>          // character offsets into the caption
        public var categoryID: Int
        public var annotations: [Int]        // indices into the image's annotations
    }

    public struct Caption: Sendable {
        public enum Kind: String, Sendable { case caption, refexp }
        public var kind: Kind
        public var text: String
        public var phrases: [Phrase]
    }

    public struct Annotation: Sendable {
        public var categoryID: Int
        public var bbox: (x: Int, y: Int, w: Int, h: Int)
        public var area: Int
    }

    /// One drawn image with its labels.
    public struct ImageRecord: Sendable {
        public var plan: ImagePlan
        public var width: Int, height: Int
        public var annotations: [Annotation]
        public var negativeCategoryIDs: [Int]
        public var notExhaustiveCategoryIDs: [Int]
        public var captions: [Caption]
    }

    public let options: Options
    public let categories: [Category]
    private let byCombination: [SyntheticTaxonomy.Combination: Int]

    public init(options: Options) {
        self.options = options
        var rng = SplitMix64(seed: options.seed, stream: 0, index: 0)
        var combinations = SyntheticTaxonomy.allCombinations
        rng.shuffle(&combinations)
        let chosen = Array(combinations.prefix(max(1, min(options.categories, combinations.count))))
        // Ids in name order, as LVIS numbers its categories; the rank (long-tail position) is the shuffled order.
        let named = chosen.enumerated().map { (rank: $0.offset, combination: $0.element, name: SyntheticTaxonomy.name($0.element)) }
            .sorted { $0.name < $1.name }
        categories = named.enumerated().map { Category(id: $0.offset + 1, combination: $0.element.combination, name: $0.element.name,
                                                       rank: $0.element.rank) }
        byCombination = Dictionary(uniqueKeysWithValues: categories.map { ($0.combination, $0.id) })
    }

    public func category(_ id: Int) -> Category { categories[id - 1] }

    public func imageCount(_ split: Split) -> Int {
        switch split {
        case .train: return options.trainImages
        case .val: return options.valImages
        case .test: return options.testImages
        }
    }

    /// First image id of a split: ids run on across train, val and test.
    func firstID(_ split: Split) -> Int {
        switch split {
        case .train: return 1
        case .val: return 1 + options.trainImages
        case .test: return 1 + options.trainImages + options.valImages
        }
    }

    /// Instances per category in a split. Train: log-uniform between 1 and m over the tail ranks (so about a third
    /// of the categories end rare, a third common, a third frequent by LVIS's image-count rule when m is a few
    /// hundred), m chosen to give `objectsPerImage`. Val and test: the square root of that, rescaled, so rare
    /// categories are present to be evaluated.
    func instanceCounts(_ split: Split, images: Int) -> [Int] {
        let k = categories.count
        let budget = options.objectsPerImage * Double(images)
        func logUniform(_ m: Double) -> [Double] {
            categories.map { c in k == 1 ? m : pow(m, 1 - Double(c.rank) / Double(k - 1)) }
        }
        if split == .train {
            var lo = 1.0, hi = max(1.0, Double(images))
            for _ in 0..<60 {
                let mid = (lo + hi) / 2
                if logUniform(mid).reduce(0, +) > budget { hi = mid } else { lo = mid }
            }
            return logUniform(lo).map { max(1, Int($0.rounded())) }
        }
        let base = logUniform(max(2, 0.15 * Double(options.trainImages))).map { $0.squareRoot() }
        let scale = budget / base.reduce(0, +)
        return base.map { max(1, Int(($0 * scale).rounded())) }
    }

    /// Deals every category's instances to the split's images at random (so some images are empty and some hold
    /// many objects), at most 14 dealt objects per image, and marks the caption-only images (train only), which draw
    /// their categories by frequency instead of from the pool.
    public func plan(_ split: Split) -> [ImagePlan] {
        let n = imageCount(split)
        guard n > 0 else { return [] }
        var rng = SplitMix64(seed: options.seed, stream: split.stream, index: 0)
        var plans = (0..<n).map { ImagePlan(id: firstID(split) + $0, split: split, index: $0) }
        var boxed: [Int] = []
        for i in 0..<n {
            if split == .train, n > 1, rng.chance(options.captionOnlyFraction) { plans[i].captionOnly = true } else { boxed.append(i) }
        }
        if boxed.isEmpty { boxed = [0]; plans[0].captionOnly = false }
        let counts = instanceCounts(split, images: boxed.count)
        var pool: [Int] = []
        for (c, count) in zip(categories, counts) { pool += [Int](repeating: c.id, count: count) }
        rng.shuffle(&pool)
        for id in pool {
            var target = boxed[rng.int(0...(boxed.count - 1))]
            for _ in 0..<10 where plans[target].categoryIDs.count >= 14 { target = boxed[rng.int(0...(boxed.count - 1))] }
            plans[target].categoryIDs.append(id)
        }
        let cumulative = counts.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + Double($1)) }
        for i in plans.indices where plans[i].captionOnly {
            plans[i].categoryIDs = (0..<rng.int(2...8)).map { _ in categories[rng.weighted(cumulative: cumulative)].id }
        }
        return plans
    }

    // MARK: - One image

    private static func muted(_ rng: inout SplitMix64) -> SceneRenderer.Color3 {
        let gray = Float(rng.uniform(70, 200))
        let c = SceneRenderer.Color3(Float(rng.uniform(40, 220)), Float(rng.uniform(40, 220)), Float(rng.uniform(40, 220)))
        return c.mixed(SceneRenderer.Color3(gray, gray, gray), Float(rng.uniform(0.45, 0.85)))
    }

    private static func clutterColor(_ rng: inout SplitMix64) -> SceneRenderer.Color3 {
        if rng.chance(0.35) {
            let c = SyntheticTaxonomy.colors[rng.int(0...(SyntheticTaxonomy.colors.count - 1))].rgb
            return SceneRenderer.Color3(c.0, c.1, c.2)
        }
        return muted(&rng)
    }

    /// Draws one planned image and derives its labels from what ended up visible.
    public func render(_ plan: ImagePlan) -> (image: RGBImage, record: ImageRecord) {
        var rng = SplitMix64(seed: options.seed, stream: plan.split.stream, index: UInt64(plan.index) + 1)
        let width = 8 * rng.int(36...52), height = 8 * rng.int(30...44)
        let w = Double(width), h = Double(height)

        let background: SceneRenderer.Background
        switch rng.int(0...3) {
        case 0: background = .flat(Self.muted(&rng))
        case 1: background = .gradient(Self.muted(&rng), Self.muted(&rng), angle: rng.uniform(0, 2 * .pi))
        case 2: background = .noise(Self.muted(&rng), Self.muted(&rng), cell: rng.uniform(12, 60), seed: rng.next())
        default: background = .bands(Self.muted(&rng), Self.muted(&rng), period: rng.uniform(18, 70), angle: rng.uniform(0, .pi))
        }
        let clutter: [SceneRenderer.Clutter] = (0..<rng.int(0...6)).map { _ in
            if rng.chance(0.5) {
                let x0 = rng.uniform(0, w), y0 = rng.uniform(0, h)
                return .line(x0: x0, y0: y0, x1: x0 + rng.uniform(-120, 120), y1: y0 + rng.uniform(-120, 120),
                             width: rng.uniform(1, 3), color: Self.clutterColor(&rng))
            }
            let x = rng.uniform(0, w), y = rng.uniform(0, h)
            let circles = (0..<rng.int(2...4)).map { _ in (x: x + rng.uniform(-10, 10), y: y + rng.uniform(-10, 10), r: rng.uniform(3, 12)) }
            return .blob(circles: circles, color: Self.clutterColor(&rng))
        }

        // Labelled objects, plus up to two distractors: combinations that are no category of the benchmark.
        var combinations = plan.categoryIDs.map { category($0).combination }
        let all = SyntheticTaxonomy.allCombinations
        for _ in 0..<rng.int(0...2) {
            let c = all[rng.int(0...(all.count - 1))]
            if byCombination[c] == nil { combinations.append(c) }
        }
        var objects: [SceneRenderer.Object] = []
        let maxRadius = min(w, h) / 2.3
        for c in combinations {
            let r = c.size == .small ? rng.uniform(6, 11) : min(maxRadius, rng.uniform(26, 58))
            var best = (x: r, y: r, score: -Double.infinity)
            for _ in 0..<12 {
                let x = rng.uniform(r, max(r + 1, w - r)), y = rng.uniform(r, max(r + 1, h - r))
                // Distance to the nearest placed object, relative to the two radii.
                var score = 10.0
                for o in objects {
                    let dx = o.centerX - x, dy = o.centerY - y
                    score = min(score, (dx * dx + dy * dy).squareRoot() / (o.radius + r))
                }
                if score > best.score { best = (x, y, score) }
                if score > 0.8 || rng.chance(0.1) { break }
            }
            objects.append(SceneRenderer.Object(
                combination: c, centerX: best.x, centerY: best.y, radius: r, aspect: rng.uniform(0.8, 1.25),
                rotation: rng.uniform(-0.45, 0.45), patternAngle: rng.uniform(0, .pi),
                tint: (Float(rng.uniform(-14, 14)), Float(rng.uniform(-14, 14)), Float(rng.uniform(-14, 14))),
                brightness: Float(rng.uniform(0.85, 1.1))))
        }
        // Mostly large objects first, so small ones are not buried; sometimes any order (heavier occlusion).
        var order = Array(objects.indices)
        if rng.chance(0.8) { order.sort { objects[$0].radius > objects[$1].radius || (objects[$0].radius == objects[$1].radius && $0 < $1) } } else { rng.shuffle(&order) }
        let drawn = order.map { objects[$0] }
        let (image, visibility) = SceneRenderer(width: width, height: height)
            .render(background: background, clutter: clutter, objects: drawn, noiseSeed: rng.next())

        // Labels: an instance is annotated when at least 30 % of it shows; a category with a hidden instance is
        // not exhaustively annotated there (or unlabelled if nothing of it is annotated).
        var annotations: [Annotation] = []
        var annotatedObjects: [Int] = []   // drawn index per annotation
        var hidden = Set<Int>()
        for (i, o) in drawn.enumerated() {
            guard let id = byCombination[o.combination] else { continue }
            let v = visibility[i]
            if v.fraction >= 0.3, let box = v.box, box.w >= 2, box.h >= 2 {
                annotations.append(Annotation(categoryID: id, bbox: box, area: v.visiblePixels))
                annotatedObjects.append(i)
            } else {
                hidden.insert(id)
            }
        }
        var positives = Set(annotations.map(\.categoryID))
        var notExhaustive = hidden.intersection(positives)
        // Missing labels, as LVIS has them: some instances of a few categories left unannotated.
        for id in positives.sorted() where !notExhaustive.contains(id) && rng.chance(0.08) {
            let mine = annotations.indices.filter { annotations[$0].categoryID == id }
            guard mine.count >= 2 else { continue }
            let drop = Set(mine.suffix(rng.int(1...(mine.count - 1))))
            annotations = annotations.indices.filter { !drop.contains($0) }.map { annotations[$0] }
            annotatedObjects = annotatedObjects.indices.filter { !drop.contains($0) }.map { annotatedObjects[$0] }
            notExhaustive.insert(id)
        }
        positives = Set(annotations.map(\.categoryID))

        // Negatives: verified absent (no drawn object of that combination); half near-duplicates of what is there.
        let present = Set(drawn.map(\.combination))
        let absent = categories.filter { !present.contains($0.combination) }
        var hard = absent.filter { c in present.contains { $0.distance(to: c.combination) == 1 } }.map(\.id)
        var easy = absent.map(\.id).filter { !hard.contains($0) }
        rng.shuffle(&hard)
        rng.shuffle(&easy)
        let negatives = (Array(hard.prefix(rng.int(0...4))) + Array(easy.prefix(rng.int(0...4)))).sorted()

        var record = ImageRecord(plan: plan, width: width, height: height, annotations: annotations,
                                 negativeCategoryIDs: negatives, notExhaustiveCategoryIDs: notExhaustive.sorted(), captions: [])
        record.captions = captions(record, drawn: drawn, visibility: visibility, annotatedObjects: annotatedObjects, rng: &rng)
        return (image, record)
    }

    private func captions(_ record: ImageRecord, drawn: [SceneRenderer.Object], visibility: [SceneRenderer.Visibility],
                          annotatedObjects: [Int], rng: inout SplitMix64) -> [Caption] {
        // Visible instances per category (the true count, whatever was annotated).
        var visibleCount: [Int: Int] = [:]
        for (i, o) in drawn.enumerated() where visibility[i].fraction >= 0.3 {
            if let id = byCombination[o.combination] { visibleCount[id, default: 0] += 1 }
        }
        var mentioned = visibleCount.keys.sorted()
        rng.shuffle(&mentioned)
        mentioned = Array(mentioned.prefix(3))
        var out: [Caption] = []
        if !mentioned.isEmpty {
            let templates = [("a picture of ", "."), ("", " on a busy background."), ("a scene with ", "."), ("", ", among other things.")]
            let (prefix, suffix) = rng.pick(templates)
            var text = prefix
            var phrases: [Phrase] = []
            for (n, id) in mentioned.enumerated() {
                if n > 0 { text += n == mentioned.count - 1 ? " and " : ", " }
                let count = visibleCount[id]!
                let quantity = count == 1 ? "a " : count == 2 ? "two " : count == 3 ? "three " : "several "
                text += quantity
                let start = text.count
                text += SyntheticTaxonomy.name(category(id).combination, plural: count > 1)
                let indices = record.annotations.indices.filter { record.annotations[$0].categoryID == id }
                phrases.append(Phrase(span: start..<text.count, categoryID: id, annotations: indices))
            }
            text += suffix
            out.append(Caption(kind: .caption, text: text, phrases: phrases))
        }
        // A referring expression for an annotated object whose category appears once.
        guard !record.plan.captionOnly else { return out }
        let unique = record.annotations.indices.filter { a in visibleCount[record.annotations[a].categoryID] == 1 }
        if !unique.isEmpty {
            let a = rng.pick(unique)
            let box = record.annotations[a].bbox
            let cx = (Double(box.x) + Double(box.w) / 2) / Double(record.width)
            let cy = (Double(box.y) + Double(box.h) / 2) / Double(record.height)
            let vertical = cy < 1.0 / 3 ? "top" : cy > 2.0 / 3 ? "bottom" : ""
            let horizontal = cx < 1.0 / 3 ? "left" : cx > 2.0 / 3 ? "right" : ""
            let place = vertical.isEmpty && horizontal.isEmpty ? "in the middle"
                : vertical.isEmpty ? "on the \(horizontal)" : horizontal.isEmpty ? "at the \(vertical)" : "in the \(vertical) \(horizontal)"
            let text = "the \(SyntheticTaxonomy.name(category(record.annotations[a].categoryID).combination)) \(place)"
            out.append(Caption(kind: .refexp, text: text,
                               phrases: [Phrase(span: 0..<text.count, categoryID: record.annotations[a].categoryID, annotations: [a])]))
        }
        return out
    }
}
