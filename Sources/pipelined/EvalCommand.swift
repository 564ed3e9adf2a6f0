import ArgumentParser
import Detector
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a detections file against LVIS/COCO annotations, as the official lvis package does.")

    @Option(name: .long, help: "LVIS (or COCO) annotation JSON.")
    var annotations: String

    @Option(name: .long, help: "Results JSON: a list of {image_id, category_id, bbox [x, y, w, h], score}.")
    var detections: String

    @Flag(name: .customLong("fixed-ap"), help: "Fixed AP protocol: top-K per category over the dataset, no per-image cap.")
    var fixedAP = false

    @Option(name: .customLong("max-dets"), help: "Standard protocol: detections kept per image.")
    var maxDets = 300

    @Option(name: .customLong("top-k"), help: "Fixed AP: detections kept per category.")
    var topK = 10_000

    @Option(name: .long, help: "Also write the metrics to this JSON file.")
    var json: String?

    func run() throws {
        let dataset = try LVISDataset(path: annotations)
        let results = try LVISDataset.results(path: detections)
        let metrics = dataset.evaluator.evaluate(results, protocol: fixedAP ? .fixedAP(topKPerCategory: topK)
                                                                             : .standard(maxDetsPerImage: maxDets))
        for (name, value) in metrics {
            print("\(name.padding(toLength: 9, withPad: " ", startingAt: 0)) \(String(format: "%.4f", value))")
        }
        if let json {
            let object = Dictionary(uniqueKeysWithValues: metrics.map { ($0.0, $0.1) })
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: json))
        }
    }
}
