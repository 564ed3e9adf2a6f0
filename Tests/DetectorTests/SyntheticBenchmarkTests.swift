import Detector
import Foundation
import Testing

@Suite struct SyntheticBenchmarkTests {
    static func small(seed: UInt64 = 7) -> SyntheticBenchmark {
        var o = SyntheticBenchmark.Options()
        o.seed = seed
        o.categories = 40
        (o.trainImages, o.valImages, o.testImages) = (40, 8, 8)
        return SyntheticBenchmark(options: o)
    }

    @Test func theSameSeedGivesTheSameImagesAndLabels() throws {
        let a = Self.small(), b = Self.small(), c = Self.small(seed: 8)
        #expect(a.categories.map(\.name) == b.categories.map(\.name))
        #expect(a.categories.map(\.name) != c.categories.map(\.name))
        for split in SyntheticBenchmark.Split.allCases {
            let pa = a.plan(split), pb = b.plan(split)
            #expect(pa.map(\.categoryIDs) == pb.map(\.categoryIDs))
            for plan in pa.prefix(3) {
                let (ia, ra) = a.render(plan), (ib, rb) = b.render(plan)
                #expect(ia == ib)
                #expect(ra.annotations.map(\.area) == rb.annotations.map(\.area))
                #expect(ra.captions.map(\.text) == rb.captions.map(\.text))
            }
        }
        let records = a.plan(.val).map { a.render($0).record }
        let again = b.plan(.val).map { b.render($0).record }
        let f = a.frequencies(train: [])
        #expect(try a.lvisJSON(.val, records: records, frequencies: f) == b.lvisJSON(.val, records: again, frequencies: f))
    }

    @Test func labelsAreFederatedAndConsistent() throws {
        let bench = Self.small()
        var trainCategories = Set<Int>()
        for plan in bench.plan(.train) where !plan.captionOnly { trainCategories.formUnion(plan.categoryIDs) }
        #expect(trainCategories.count == bench.categories.count, "every category has train instances")
        let records = bench.plan(.train).map { bench.render($0).record }
        #expect(records.contains { $0.plan.captionOnly })
        for r in records {
            let positives = Set(r.annotations.map(\.categoryID))
            #expect(positives.isDisjoint(with: r.negativeCategoryIDs), "a negative is present in image \(r.plan.id)")
            #expect(Set(r.notExhaustiveCategoryIDs).isSubset(of: positives))
            for a in r.annotations {
                #expect(a.bbox.x >= 0 && a.bbox.y >= 0 && a.bbox.x + a.bbox.w <= r.width && a.bbox.y + a.bbox.h <= r.height)
                #expect(a.area > 0 && a.area <= a.bbox.w * a.bbox.h)
                // Sizes follow the category's size attribute (LVIS small is < 32² pixels).
                if bench.category(a.categoryID).combination.size == .small { #expect(a.area < 32 * 32) }
            }
            for caption in r.captions {
                let scalars = Array(caption.text.unicodeScalars)
                for phrase in caption.phrases {
                    let text = String(String.UnicodeScalarView(scalars[phrase.span]))
                    let name = bench.category(phrase.categoryID).name
                    // A caption's span holds the category's name, singular or plural; a referring expression's span is
                    // the whole expression.
                    let ok = caption.kind == .refexp ? text == caption.text && text.contains(name)
                        : text == name || text.hasPrefix(String(name.dropLast(2)))
                    #expect(ok, "'\(text)' for \(name) in '\(caption.text)'")
                }
            }
        }
        // The LVIS file reads back and perfect detections score AP 1.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("train.json").path
        try bench.lvisJSON(.train, records: records, frequencies: bench.frequencies(train: records)).write(to: URL(fileURLWithPath: path))
        let dataset = try LVISDataset(path: path)
        #expect(dataset.images.count == records.filter { !$0.plan.captionOnly }.count)
        let perfect = dataset.annotations.map {
            LVISEvaluator.Result(imageID: $0.imageID, categoryID: $0.categoryID, bbox: $0.bbox, score: 1)
        }
        let metrics = Dictionary(uniqueKeysWithValues: dataset.evaluator.evaluate(perfect))
        #expect(abs(metrics["AP"]! - 1) < 1e-9, "\(metrics)")
        #expect(Set(dataset.categories.compactMap(\.frequency)).isSubset(of: ["r", "c", "f"]))

        // The grounding file reads back through the same type: one entry per caption, every box on its phrase's span.
        let groundingPath = dir.appendingPathComponent("grounding.json").path
        try bench.groundingJSON(.train, records: records).write(to: URL(fileURLWithPath: groundingPath))
        let grounding = try LVISDataset(path: groundingPath)
        #expect(grounding.images.count == records.reduce(0) { $0 + $1.captions.count })
        #expect(grounding.images.allSatisfy { grounding.captions[$0.id] != nil && grounding.originalImageIDs[$0.id] != nil })
        let boxes = records.filter { !$0.plan.captionOnly }.reduce(0) { n, r in
            n + r.captions.reduce(0) { $0 + $1.phrases.reduce(0) { $0 + $1.annotations.count } }
        }
        #expect(grounding.groundings.count == boxes && grounding.annotations.isEmpty)
        for g in grounding.groundings.prefix(50) {
            let caption = Array(grounding.captions[g.imageID]!.unicodeScalars)
            #expect(g.spans.allSatisfy { $0.upperBound <= caption.count } && g.categoryID == nil)
        }
    }

    /// The real LVIS v1 vocabulary reads as a dataset with categories only (how `pipelined vocab import` takes it).
    @Test func readsTheLVISVocabulary() throws {
        let lvis = try LVISDataset(json: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("lvis_v1_categories.json"))))
        #expect(lvis.categories.count == 1203 && lvis.images.isEmpty)
        #expect(lvis.categories.allSatisfy { $0.frequency != nil && $0.def != nil && !($0.synonyms ?? []).isEmpty })
    }

    @Test func shapesAreDistinct() {
        // Coverage of each shape on a grid of its frame: all different enough to tell apart, none empty or full.
        var coverage: [SyntheticTaxonomy.Shape: [Bool]] = [:]
        for shape in SyntheticTaxonomy.Shape.allCases {
            var bits: [Bool] = []
            for y in 0..<40 { for x in 0..<40 { bits.append(SceneRenderer.inside(shape, Double(x) / 20 - 0.975, Double(y) / 20 - 0.975)) } }
            let fill = Double(bits.filter { $0 }.count) / Double(bits.count)
            #expect(fill > 0.15 && fill < 0.8, "\(shape) fills \(fill)")
            coverage[shape] = bits
        }
        let shapes = SyntheticTaxonomy.Shape.allCases
        for i in shapes.indices { for j in shapes.indices where j > i {
            let differ = zip(coverage[shapes[i]]!, coverage[shapes[j]]!).filter { $0 != $1 }.count
            #expect(differ > 80, "\(shapes[i]) and \(shapes[j]) differ in \(differ) of 1600 cells")
        } }
    }

    @Test func synonymsAreUnseenWording() {
        let bench = Self.small()
        let c = bench.categories[0]
        let synonyms = SyntheticTaxonomy.synonyms(c.combination)
        #expect(synonyms.first == c.name && synonyms.count >= 7)
        // No synonym word appears in any name or definition.
        let words = Set(bench.categories.flatMap { ($0.name + " " + SyntheticTaxonomy.definition($0.combination)).split(separator: " ").map(String.init) })
        for s in synonyms.dropFirst() {
            let novel = s.split(separator: " ").map(String.init).filter { !words.contains($0) }
            #expect(!novel.isEmpty, "'\(s)' has no unseen word")
        }
    }
}
