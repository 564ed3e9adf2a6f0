import Detector
import Foundation

/// A run's training records, built from an LVIS/COCO dataset (`LVISDataset`: a file, or labels from the database) as MDETR
/// builds them — per image, one record per positive category with all its boxes and up to `negatives_per_image` with
/// none, optionally GLIP-style packed records — plus grounding captions and caption-only images when given.
struct TrainingData {
    var images: [(id: Int, file: String, width: Int, height: Int)] = []
    var records: [TrainingRecord] = []
    /// Caption-only images' records (DetCLIPv2 data): phrases, no boxes.
    var captionRecords: [TrainingRecord] = []
    /// Each record's repeat factor (`sampling = "repeat_factor"`); 1 for negatives, grounding and uniform sampling.
    var recordFactors: [Double] = []
    /// DetCLIPv2: every category's concept text ("name: definition", DetCLIPv2's concept enrichment), by category
    /// id order — what detection batches are scored against.
    var concepts: [String] = []
    let c: TrainingConfig
    let tokenizer: any Tokenizer
    let maxTokens: Int

    init(_ c: TrainingConfig, dataset: LVISDataset, tokenizer: any Tokenizer, maxTokens: Int) throws {
        self.c = c
        self.tokenizer = tokenizer
        self.maxTokens = maxTokens
        let names = Dictionary(uniqueKeysWithValues: dataset.categories.map {
            ($0.id, PromptTemplate.cleanName.prompt(name: $0.name, definition: nil))
        })
        var index: [Int: Int] = [:]
        for image in dataset.images {
            // An image the file gives no name or size for cannot be trained on (its boxes cannot be scaled).
            guard let file = dataset.fileNames[image.id], let size = dataset.sizes[image.id] else { continue }
            index[image.id] = images.count
            images.append((image.id, file, size.width, size.height))
        }
        var boxes: [Int: [Int: [[Float]]]] = [:]   // image → category → boxes
        for a in dataset.annotations {
            guard let i = index[a.imageID] else { continue }
            boxes[a.imageID, default: [:]][a.categoryID, default: []].append(
                relativeBox([Float(a.bbox.x), Float(a.bbox.y), Float(a.bbox.w), Float(a.bbox.h)], image: i))
        }
        // Few-shot runs: MDETR's class-balanced subset of the images, and LVIS repeat factors for rare categories.
        var subset: Set<Int>?
        var categoryFactors: [Int: Double] = [:]
        if c.subsetFraction < 1 { subset = FewShot.classBalancedSubset(dataset, fraction: c.subsetFraction) }
        if c.sampling == "repeat_factor" { categoryFactors = FewShot.repeatFactors(dataset, images: subset, threshold: c.repeatThreshold) }
        var rng = SplitMix64(seed: UInt64(c.seed))
        if c.family == "detclip" {
            let sorted = dataset.categories.sorted { $0.id < $1.id }
            let concept = Dictionary(uniqueKeysWithValues: sorted.map { ($0.id, PromptTemplate.nameAndDefinition.prompt(name: $0.name, definition: $0.def)) })
            concepts = sorted.compactMap { concept[$0.id] }
            // One record per image: all its boxes, each on its category's concept. Negatives are the other concepts
            // of the batch, so images without boxes still teach what is absent.
            for image in images where subset?.contains(image.id) ?? true {
                guard let i = index[image.id] else { continue }
                var record = TrainingRecord(image: i, caption: "", boxes: [], spans: [])
                for (cat, bs) in (boxes[image.id] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    guard let text = concept[cat] else { continue }
                    record.boxes += bs
                    record.concepts += bs.map { _ in text }
                }
                records.append(record)
                recordFactors.append((boxes[image.id] ?? [:]).keys.map { categoryFactors[$0] ?? 1 }.max() ?? 1)
            }
            if let grounding = c.grounding { try loadGrounding(grounding, index: index) }
            return
        }
        for image in images where subset?.contains(image.id) ?? true {
            let i = index[image.id]!
            for (cat, bs) in (boxes[image.id] ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let caption = names[cat] else { continue }
                let span = [0..<caption.unicodeScalars.count]
                records.append(TrainingRecord(image: i, caption: caption, boxes: bs, spans: bs.map { _ in span }))
                recordFactors.append(categoryFactors[cat] ?? 1)
            }
            var negs = dataset.listedNegatives[image.id] ?? []
            rng.shuffle(&negs)
            for cat in negs.prefix(c.negativesPerImage < 0 ? negs.count : c.negativesPerImage) {
                guard let caption = names[cat] else { continue }
                records.append(TrainingRecord(image: i, caption: caption, boxes: [], spans: []))
                recordFactors.append(1)
            }
            for _ in 0..<c.packedPerImage {
                guard let record = packedRecord(image: i, boxes: boxes[image.id] ?? [:], negatives: dataset.listedNegatives[image.id] ?? [],
                                                names: names, rng: &rng) else { continue }
                records.append(record)
                recordFactors.append(1)
            }
        }
        if let grounding = c.grounding { try loadGrounding(grounding, index: index) }
    }

    /// Token cost of each category's name in a packed caption (`packedRecord`'s budget estimate).
    private var packedCosts: [Int: Int] = [:]

    /// A GLIP-style record: the image's positive categories among others (its verified negatives first, then any
    /// other category — the synthetic benchmark labels its images exhaustively; a federated dataset's unverified
    /// categories may be present unlabelled) in one shuffled caption filling `packed_tokens`, each positive's boxes
    /// grounded on its name's span. nil when the positives alone do not fit one caption.
    mutating func packedRecord(image i: Int, boxes: [Int: [[Float]]], negatives: [Int], names: [Int: String],
                      rng: inout SplitMix64) -> TrainingRecord? {
        let budget = c.packedTokens > 0 ? min(c.packedTokens, maxTokens) : maxTokens
        if packedCosts.isEmpty {
            packedCosts = names.mapValues { max(1, tokenizer.encode(" " + $0.trimmingCharacters(in: .whitespaces) + ".").ids.count - 2) }
        }
        let positives = boxes.keys.filter { names[$0] != nil }.sorted()
        guard !positives.isEmpty else { return nil }
        let positiveSet = Set(positives)
        var verified = negatives.filter { names[$0] != nil && !positiveSet.contains($0) }
        var others = names.keys.sorted().filter { !positiveSet.contains($0) && !verified.contains($0) }
        rng.shuffle(&verified)
        rng.shuffle(&others)
        var chosen: [Int] = [], total = 2
        for cat in positives + verified + others {
            let cost = packedCosts[cat] ?? 1
            if total + cost > budget, !positiveSet.contains(cat) { break }
            total += cost
            chosen.append(cat)
        }
        rng.shuffle(&chosen)
        // A name that cannot be packed (empty, or longer than the budget) costs the image its packed record only.
        guard let packs = try? PromptPacker.pack(chosen.map { CategoryPrompt(categoryID: $0, prompt: names[$0]!) },
                                                 tokenizer: tokenizer, maxTokens: budget),
              let pack = packs.first, !pack.solo, positives.allSatisfy({ p in pack.categories.contains { $0.categoryID == p } })
        else { return nil }
        var recordBoxes: [[Float]] = [], spans: [[Range<Int>]] = []
        for (j, category) in pack.categories.enumerated() {
            for box in boxes[category.categoryID] ?? [] {
                recordBoxes.append(box)
                spans.append([pack.spans[j]])
            }
        }
        return TrainingRecord(image: i, caption: pack.caption, boxes: recordBoxes, spans: spans)
    }

    /// MDETR-style grounding entries (captions with `tokens_positive` spans) of images in the training set, read as
    /// every LVIS/COCO file is (`LVISDataset`): each entry is an "image" naming the image it describes
    /// (`original_img_id`).
    mutating func loadGrounding(_ path: String, index: [Int: Int]) throws {
        let file = try LVISDataset(path: path)
        var entries: [Int: (image: Int, caption: String)] = [:]
        var captionOnlyImages: [Int: Int] = [:]
        for entry in file.images {
            guard let original = file.originalImageIDs[entry.id], let caption = file.captions[entry.id] else { continue }
            if file.datasetNames[entry.id] == "caption_only" {
                // Not in the LVIS file: the image is known from the grounding entry; its phrases train alignment.
                guard let name = file.fileNames[entry.id], let size = file.sizes[entry.id], let phrases = file.phrases[entry.id] else { continue }
                let i = captionOnlyImages[original] ?? {
                    images.append((original, name, size.width, size.height))
                    return images.count - 1
                }()
                captionOnlyImages[original] = i
                captionRecords.append(TrainingRecord(image: i, caption: caption, boxes: [], spans: phrases, kind: .captionOnly))
                continue
            }
            guard let i = index[original] else { continue }
            entries[entry.id] = (i, caption)
        }
        var byEntry: [Int: [(box: [Float], span: [Range<Int>])]] = [:]
        for g in file.groundings {
            guard let entry = entries[g.imageID] else { continue }
            byEntry[g.imageID, default: []].append((relativeBox([Float(g.bbox.x), Float(g.bbox.y), Float(g.bbox.w), Float(g.bbox.h)],
                                                                image: entry.image), g.spans))
        }
        for (id, entry) in entries.sorted(by: { $0.key < $1.key }) {
            guard let boxes = byEntry[id], !boxes.isEmpty else { continue }
            records.append(TrainingRecord(image: entry.image, caption: entry.caption, boxes: boxes.map(\.box), spans: boxes.map(\.span),
                                          kind: .grounding))
            recordFactors.append(1)
        }
    }

    /// An LVIS/COCO box (x, y, w, h in pixels) as MDETR's target: (cx, cy, w, h) relative to the image.
    func relativeBox(_ b: [Float], image i: Int) -> [Float] {
        let (w, h) = (Float(images[i].width), Float(images[i].height))
        return [(b[0] + b[2] / 2) / w, (b[1] + b[3] / 2) / h, b[2] / w, b[3] / h]
    }
}
