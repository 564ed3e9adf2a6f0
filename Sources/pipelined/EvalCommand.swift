import ArgumentParser
import Crypto
import Detector
import Foundation
import Stages
import Store

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "LVIS evaluation: score a results file, or run a model over a dataset's images and score that.",
        discussion: """
            With --detections, scores an existing results file exactly as the official lvis package does. With \
            --images, asks every image of the annotation file every category (LVIS-style: one prompt per category, \
            the boxes merged — or packed or shortlisted with --strategy), prints the metrics, stores them with per-category AP in PostgreSQL \
            (evaluation_runs, evaluation_category_ap, view evaluation_summary) and can export the detections.
            """)

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "LVIS (or COCO) annotation JSON.")
    var annotations: String

    @Option(name: .long, help: "Results JSON to score: a list of {image_id, category_id, bbox [x, y, w, h], score}.")
    var detections: String?

    @Option(name: .long, help: "Directory the annotation file's image file_names are relative to: run the model over them.")
    var images: String?

    @Option(name: .long, help: "With --images: an official MDETR .pth checkpoint or an imported model directory.")
    var model: String?

    @OptionGroup var modelOptions: CheckpointOptions

    @Option(name: .long, help: "With --images: prompt template (clean_name, name_and_definition, or one with {name}/{definition}); default: the one the model was trained with (clean_name for MDETR, name_and_definition for DetCLIPv2).")
    var template: String?

    @Option(name: .long, help: "With --images: a JSON object of category id → prompt replacing the template for those categories (others are not asked); e.g. synth's unseen_wording/color.json.")
    var prompts: String?

    @OptionGroup var strategyOptions: StrategyOptions

    @Option(name: .customLong("top-n"), help: "With --images: detections kept per image (default 300; 0 keeps all).")
    var topN: Int?

    @Option(name: .customLong("nms-iou"), help: "With --images: class-wise NMS at this IoU (default none, as upstream).")
    var nmsIoU: Float?

    @Option(name: .long, help: "With --images: evaluate only the first N images.")
    var limit: Int?

    @Option(name: .long, help: "With --images: write the detections as an LVIS/COCO results JSON.")
    var export: String?

    @Flag(name: .customLong("no-store"), help: "With --images: do not store the run in PostgreSQL.")
    var noStore = false

    @Flag(name: .customLong("fixed-ap"), help: "Fixed AP protocol: top-K per category over the dataset, no per-image cap.")
    var fixedAP = false

    @Option(name: .customLong("max-dets"), help: "Standard protocol: detections kept per image.")
    var maxDets = 300

    @Option(name: .customLong("top-k"), help: "Fixed AP: detections kept per category.")
    var topK = 10_000

    @Flag(name: .long, help: "With --images and a model directory: keep the F1-best score threshold found here in the model's manifest (the threshold the daemon and detect use unless one is configured).")
    var calibrate = false

    @Option(name: .long, help: "Also write the metrics to this JSON file.")
    var json: String?

    @Flag(name: .long, help: "No progress bar.")
    var quiet = false

    func validate() throws {
        guard (detections == nil) != (images == nil) else { throw ValidationError("give exactly one of --detections and --images") }
        if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1") }
        if calibrate, images == nil || fixedAP || prompts != nil {
            throw ValidationError("--calibrate measures a model on --images under the standard protocol, asked its own vocabulary")
        }
    }

    var evaluationProtocol: LVISEvaluator.EvaluationProtocol {
        fixedAP ? .fixedAP(topKPerCategory: topK) : .standard(maxDetsPerImage: maxDets)
    }

    func run() throws {
        let dataset = try LVISDataset(path: annotations)
        if let detections {
            let report = dataset.evaluator.report(try LVISDataset.results(path: detections), protocol: evaluationProtocol)
            try output(report)
            return
        }
        if noStore {
            _ = try common.load()
            try evaluateImages(dataset, database: nil)
        } else {
            try common.withDatabase { _, _, database in try evaluateImages(dataset, database: database) }
        }
    }

    private func evaluateImages(_ dataset: LVISDataset, database: Database?) throws {
        guard let path = DefaultModel.resolve(model, configured: (try? common.load().0.modelPath) ?? nil) else {
            throw ValidationError("no model: pass --model PATH (an official .pth checkpoint or an imported model directory)")
        }
        try DefaultModel.checkPretrainedParts(for: path)
        if calibrate, !FileManager.default.fileExists(atPath: path + "/manifest.json") {
            throw CommandFailure("--calibrate keeps the threshold in a model directory's manifest; \(path) is not a model directory (import it with pipelined model import)")
        }
        let detector = try ModelPackage.loadDetector(path, options: try modelOptions.packageOptions)
        let template = self.template.flatMap { $0 == "auto" ? nil : $0 } ?? VocabularyResolver.name(of: detector.preferredTemplate)
        let promptTemplate = VocabularyResolver.template(template)
        var vocabulary = dataset.categories.map {
            CategoryPrompt(categoryID: $0.id, prompt: promptTemplate.prompt(name: $0.name, definition: $0.def))
        }
        if let prompts {
            guard let data = FileManager.default.contents(atPath: prompts),
                  let map = try? JSONSerialization.jsonObject(with: data) as? [String: String] else {
                throw ValidationError("\(prompts) must be a JSON object of category id → prompt")
            }
            vocabulary = vocabulary.compactMap { entry in map["\(entry.categoryID)"].map { CategoryPrompt(categoryID: entry.categoryID, prompt: $0) } }
        }
        let settings = MergeSettings(topN: topN ?? (fixedAP ? 0 : 300), scoreThreshold: 0, nmsIoU: nmsIoU)
        // The official protocol unless asked otherwise: eval is the reference the strategies are measured against.
        let strategy = strategyOptions.strategy(try common.load().0.query, fallback: "exact", detector: detector)
        let query = VocabularyQuery(categories: vocabulary, strategy: strategy, merge: settings)
        var passes = 0
        let selected = Array(dataset.images.prefix(limit ?? dataset.images.count))
        let files = dataset.fileNames
        let started = Date()
        let progress = ProgressBar(total: selected.count, label: "eval", enabled: !quiet)
        var results: [LVISEvaluator.Result] = []
        for image in selected {
            guard let name = files[image.id] else { throw LVISDataset.Failure.malformed(annotations, "image \(image.id) has no file_name or coco_url") }
            let file = URL(fileURLWithPath: images!).appendingPathComponent(name).path
            let pixels = try ImageDecoder().decode(file: file)
            let answer = try detector.detect(pixels, vocabulary: query, progress: nil)
            passes += answer.passes
            for d in answer.detections { results.append(LVISEvaluator.Result(imageID: image.id, detection: d)) }
            progress.advance(detail: "\(results.count) detections")
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        // Only the evaluated images count (and are annotated) when --limit cuts the dataset short.
        var scored = limit == nil ? dataset : dataset.restricted(to: Set(selected.map(\.id)))
        // With --prompts only the categories asked are scored.
        if prompts != nil { scored = scored.restricted(toCategories: Set(vocabulary.map(\.categoryID))) }
        let evaluator = scored.evaluator
        let report = evaluator.report(results, protocol: evaluationProtocol)
        try output(report)
        if calibrate { try keepThreshold(report.operatingPoint, model: path) }
        print(String(format: "%d images, %.2f s per image, %d categories asked per image, ", selected.count,
                     seconds / Double(max(selected.count, 1)), vocabulary.count)
              + "strategy \(strategy.name), " + String(format: "%.1f passes per image", Double(passes) / Double(max(selected.count, 1))))
        if let export {
            let list = results.map { r -> [String: Any] in
                ["image_id": r.imageID, "category_id": r.categoryID, "bbox": [r.bbox.x, r.bbox.y, r.bbox.w, r.bbox.h], "score": r.score]
            }
            try JSONSerialization.data(withJSONObject: list, options: [.sortedKeys]).write(to: URL(fileURLWithPath: export))
        }
        guard let database else { return }
        let annotationBytes = try Data(contentsOf: URL(fileURLWithPath: annotations))
        let runID = try database.recordEvaluation(EvaluationRecord(
            modelName: detector.identity.name, modelVersion: detector.identity.version,
            weightsSHA256: detector.identity.weightsSHA256,
            annotationsPath: URL(fileURLWithPath: annotations).standardizedFileURL.path,
            annotationsSHA256: SHA256.hash(data: annotationBytes).map { String(format: "%02x", $0) }.joined(),
            fixedAP: fixedAP,
            settings: settings.description.merging(strategy.description) { $1 }.merging(["template": prompts ?? template, "images_dir": images!, "max_dets": "\(maxDets)",
                                                    "top_k": "\(topK)", "limit": limit.map(String.init) ?? "none"]) { $1 },
            images: selected.count, metrics: report.metrics,
            categoryAP: dataset.categories.map { c in
                let ap = report.perCategoryAP[c.id] ?? -1
                return (c.id, c.name, c.frequency, ap < 0 ? nil : ap)
            },
            seconds: seconds, startedAt: started))
        print("stored as evaluation run \(runID) (view evaluation_summary, table evaluation_category_ap)")
    }

    /// Writes the operating point's threshold into the model directory's manifest (`scoreThreshold`).
    private func keepThreshold(_ point: OperatingPoint?, model path: String) throws {
        guard let point else { throw CommandFailure("--calibrate: no box of \(annotations)'s images was right, so there is no threshold to keep") }
        var manifest = try ModelPackage.manifest(directory: path)
        manifest.scoreThreshold = point.threshold
        try ModelPackage.write(manifest, directory: path)
        print("kept score threshold \(String(format: "%.4f", point.threshold)) in \(path)/manifest.json")
    }

    /// The metrics, then the operating point (standard protocol): the score threshold with the best F1 at IoU 0.5.
    private func output(_ report: LVISEvaluator.Report) throws {
        var metrics = report.metrics
        for (name, value) in metrics {
            print("\(name.padding(toLength: 9, withPad: " ", startingAt: 0)) \(String(format: "%.4f", value))")
        }
        if !fixedAP, let point = report.operatingPoint {
            print(String(format: "best F1 %.4f (precision %.4f, recall %.4f at IoU 0.5) keeping scores above %.4f",
                         point.f1, point.precision, point.recall, point.threshold))
            metrics += [("F1", point.f1), ("F1_threshold", point.threshold)]
        }
        if let json {
            let object = Dictionary(uniqueKeysWithValues: metrics.map { ($0.0, $0.1) })
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                .write(to: URL(fileURLWithPath: json))
        }
    }
}
