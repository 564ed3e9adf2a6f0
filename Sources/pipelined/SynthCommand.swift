import ArgumentParser
import Detector
import Foundation
import Stages

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render the synthetic LVIS-style benchmark (deterministic: the same seed gives the same files).",
        discussion: """
            Writes OUT/images/{train,val,test}/*.jpg, OUT/lvis_v1_{split}.json (LVIS format: federated labels, \
            frequency buckets from the train split), OUT/grounding_{split}.json (captions and referring expressions \
            with character spans; caption-only images) and OUT/dataset_card.md. See docs/synthetic-benchmark.md.
            """)

    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output directory (created; existing files are overwritten).") var out: String
    @Option(name: .long, help: "Number of categories (at most 960 attribute combinations).") var categories = 300
    @Option(name: .long, help: "Train images.") var train = 3000
    @Option(name: .long, help: "Validation images.") var val = 300
    @Option(name: .long, help: "Test images.") var test = 300
    @Option(name: .customLong("caption-only"), help: "Fraction of train images with a caption only.") var captionOnly = 0.1
    @Flag(name: .long, help: "No progress bar.") var quiet = false

    func validate() throws {
        guard (1...960).contains(categories) else { throw ValidationError("--categories must be 1…960") }
        guard train >= 1, val >= 0, test >= 0 else { throw ValidationError("--train must be ≥ 1, --val and --test ≥ 0") }
        guard (0..<1).contains(captionOnly) else { throw ValidationError("--caption-only must be in [0, 1)") }
    }

    func run() throws {
        var options = SyntheticBenchmark.Options()
        options.seed = seed
        options.categories = categories
        (options.trainImages, options.valImages, options.testImages) = (train, val, test)
        options.captionOnlyFraction = captionOnly
        let benchmark = SyntheticBenchmark(options: options)
        let root = URL(fileURLWithPath: out)
        let progress = ProgressBar(total: train + val + test, label: "rendering", enabled: !quiet)
        var records: [SyntheticBenchmark.Split: [SyntheticBenchmark.ImageRecord]] = [:]
        for split in SyntheticBenchmark.Split.allCases {
            let plans = benchmark.plan(split)
            try FileManager.default.createDirectory(at: root.appendingPathComponent("images/\(split.rawValue)"),
                                                    withIntermediateDirectories: true)
            let results = LockedResults<SyntheticBenchmark.ImageRecord>(count: plans.count)
            // Images are independent (each has its own random stream): render them on every core.
            DispatchQueue.concurrentPerform(iterations: plans.count) { i in
                do {
                    let (image, record) = benchmark.render(plans[i])
                    let bytes = try JPEGEncoder.encode(image)
                    try Data(bytes).write(to: root.appendingPathComponent("images/\(plans[i].fileName)"))
                    results.set(i, .success(record))
                } catch {
                    results.set(i, .failure(error))
                }
                progress.advance()
            }
            records[split] = try results.values()
        }
        progress.finish()
        let frequencies = benchmark.frequencies(train: records[.train] ?? [])
        for split in SyntheticBenchmark.Split.allCases {
            try benchmark.lvisJSON(split, records: records[split] ?? [], frequencies: frequencies)
                .write(to: root.appendingPathComponent("lvis_v1_\(split.rawValue).json"))
            try benchmark.groundingJSON(split, records: records[split] ?? [])
                .write(to: root.appendingPathComponent("grounding_\(split.rawValue).json"))
        }
        // Held-out wording: per attribute, every category's prompt with that attribute said with an unseen synonym
        // (`pipelined eval --prompts`).
        try FileManager.default.createDirectory(at: root.appendingPathComponent("unseen_wording"), withIntermediateDirectories: true)
        for attribute in SyntheticTaxonomy.Attribute.allCases {
            var prompts: [String: String] = [:]
            for c in benchmark.categories { if let p = SyntheticTaxonomy.reworded(c.combination, attribute) { prompts["\(c.id)"] = p } }
            try JSONSerialization.data(withJSONObject: prompts, options: [.sortedKeys])
                .write(to: root.appendingPathComponent("unseen_wording/\(attribute.rawValue).json"))
        }
        let card = benchmark.card(records: records, frequencies: frequencies)
        try Data(card.utf8).write(to: root.appendingPathComponent("dataset_card.md"))
        print(card)
    }
}
