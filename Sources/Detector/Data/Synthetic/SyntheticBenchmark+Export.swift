import Foundation

/// The benchmark's files: LVIS v1-format annotations per split, MDETR-style grounding files (one entry per caption or
/// referring expression, `tokens_positive` character spans), and the dataset card's statistics.
extension SyntheticBenchmark {
    struct LVISFile: Encodable {
        struct Info: Encodable { var description: String; var version: String; var seed: UInt64 }
        struct Image: Encodable {
            var id: Int, file_name: String, width: Int, height: Int
            var neg_category_ids: [Int], not_exhaustive_category_ids: [Int]
        }
        struct Annotation: Encodable { var id: Int, image_id: Int, category_id: Int, bbox: [Int], area: Int }
        struct Category: Encodable {
            var id: Int, name: String, synonyms: [String], def: String, frequency: String
            var image_count: Int, instance_count: Int, synset: String
        }
        var info: Info
        var images: [Image]
        var annotations: [Annotation]
        var categories: [Category]
        var licenses: [String] = []
    }

    struct GroundingFile: Encodable {
        struct Image: Encodable {
            var id: Int, original_img_id: Int, file_name: String, width: Int, height: Int
            var caption: String, dataset_name: String
            var tokens_positive_eval: [[[Int]]]
        }
        struct Annotation: Encodable {
            var id: Int, image_id: Int, category_id: Int, bbox: [Int], area: Int
            var tokens_positive: [[Int]]
        }
        var images: [Image]
        var annotations: [Annotation]
    }

    /// Per category, from the train split's annotated images: (images, instances, LVIS bucket r ≤ 10 < c ≤ 100 < f).
    public func frequencies(train: [ImageRecord]) -> [Int: (images: Int, instances: Int, bucket: String)] {
        var images: [Int: Int] = [:], instances: [Int: Int] = [:]
        for r in train where !r.plan.captionOnly {
            for id in Set(r.annotations.map(\.categoryID)) { images[id, default: 0] += 1 }
            for a in r.annotations { instances[a.categoryID, default: 0] += 1 }
        }
        return Dictionary(uniqueKeysWithValues: categories.map { c in
            let n = images[c.id] ?? 0
            return (c.id, (n, instances[c.id] ?? 0, n <= 10 ? "r" : n <= 100 ? "c" : "f"))
        })
    }

    private static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }

    /// The LVIS-format file of a split (caption-only images are left out: they have no boxes).
    public func lvisJSON(_ split: Split, records: [ImageRecord], frequencies: [Int: (images: Int, instances: Int, bucket: String)]) throws -> Data {
        var images: [LVISFile.Image] = [], annotations: [LVISFile.Annotation] = []
        for r in records where !r.plan.captionOnly {
            images.append(.init(id: r.plan.id, file_name: r.plan.fileName, width: r.width, height: r.height,
                                neg_category_ids: r.negativeCategoryIDs, not_exhaustive_category_ids: r.notExhaustiveCategoryIDs))
            for a in r.annotations {
                annotations.append(.init(id: annotations.count + 1, image_id: r.plan.id, category_id: a.categoryID,
                                         bbox: [a.bbox.x, a.bbox.y, a.bbox.w, a.bbox.h], area: a.area))
            }
        }
        let cats = categories.map { c in
            let f = frequencies[c.id] ?? (0, 0, "r")
            return LVISFile.Category(id: c.id, name: c.name, synonyms: SyntheticTaxonomy.synonyms(c.combination),
                                     def: SyntheticTaxonomy.definition(c.combination), frequency: f.bucket,
                                     image_count: f.images, instance_count: f.instances,
                                     synset: c.name.replacingOccurrences(of: " ", with: "_") + ".n.01")
        }
        let file = LVISFile(info: .init(description: "pipelined synthetic LVIS-style benchmark, \(split.rawValue) split",
                                        version: "1", seed: options.seed),
                            images: images, annotations: annotations, categories: cats)
        return try Self.encoder().encode(file)
    }

    /// The grounding file of a split: captions (all images, caption-only ones with spans but no boxes) and
    /// referring expressions.
    public func groundingJSON(_ split: Split, records: [ImageRecord]) throws -> Data {
        var images: [GroundingFile.Image] = [], annotations: [GroundingFile.Annotation] = []
        for r in records {
            for caption in r.captions {
                let id = images.count + 1
                let kind = r.plan.captionOnly ? "caption_only" : caption.kind.rawValue
                images.append(.init(id: id, original_img_id: r.plan.id, file_name: r.plan.fileName, width: r.width, height: r.height,
                                    caption: caption.text, dataset_name: kind,
                                    tokens_positive_eval: caption.phrases.map { [[$0.span.lowerBound, $0.span.upperBound]] }))
                guard !r.plan.captionOnly else { continue }
                for phrase in caption.phrases {
                    for a in phrase.annotations {
                        let ann = r.annotations[a]
                        annotations.append(.init(id: annotations.count + 1, image_id: id, category_id: ann.categoryID,
                                                 bbox: [ann.bbox.x, ann.bbox.y, ann.bbox.w, ann.bbox.h], area: ann.area,
                                                 tokens_positive: [[phrase.span.lowerBound, phrase.span.upperBound]]))
                    }
                }
            }
        }
        return try Self.encoder().encode(GroundingFile(images: images, annotations: annotations))
    }

    /// The dataset card's numbers, as Markdown.
    public func card(records: [Split: [ImageRecord]], frequencies: [Int: (images: Int, instances: Int, bucket: String)]) -> String {
        var lines = ["# Synthetic LVIS-style benchmark — dataset card", "",
                     "Generated by `pipelined synth --seed \(options.seed) --categories \(categories.count) --train \(options.trainImages) --val \(options.valImages) --test \(options.testImages)`.",
                     "The generator and the design are described in docs/synthetic-benchmark.md of the pipelined repository.", "",
                     "| | r | c | f |", "|---|---|---|---|"]
        let buckets = ["r", "c", "f"].map { b in categories.filter { frequencies[$0.id]?.bucket == b }.count }
        lines.append("| categories (by train image count) | \(buckets[0]) | \(buckets[1]) | \(buckets[2]) |")
        lines += ["", "| split | images | with boxes | caption-only | empty | annotations | small / medium / large | negatives per image | not-exhaustive labels | captions | referring expressions |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for split in Split.allCases {
            let rs = records[split] ?? []
            let boxed = rs.filter { !$0.plan.captionOnly }
            let anns = boxed.flatMap(\.annotations)
            let small = anns.filter { $0.area < 32 * 32 }.count, large = anns.filter { $0.area > 96 * 96 }.count
            let negs = boxed.isEmpty ? 0 : Double(boxed.map(\.negativeCategoryIDs.count).reduce(0, +)) / Double(boxed.count)
            lines.append("| \(split.rawValue) | \(rs.count) | \(boxed.count) | \(rs.count - boxed.count) | \(boxed.filter { $0.annotations.isEmpty }.count) | \(anns.count) | \(small) / \(anns.count - small - large) / \(large) | \(String(format: "%.1f", negs)) | \(boxed.map(\.notExhaustiveCategoryIDs.count).reduce(0, +)) | \(rs.flatMap(\.captions).filter { $0.kind == .caption }.count) | \(rs.flatMap(\.captions).filter { $0.kind == .refexp }.count) |")
        }
        lines += ["", "Most frequent categories (train images): " + categories.sorted { (frequencies[$0.id]?.images ?? 0) > (frequencies[$1.id]?.images ?? 0) }
            .prefix(5).map { "\($0.name) (\(frequencies[$0.id]?.images ?? 0))" }.joined(separator: ", ") + "."]
        return lines.joined(separator: "\n") + "\n"
    }
}
