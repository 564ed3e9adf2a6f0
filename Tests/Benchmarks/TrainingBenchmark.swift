import Detector
import Foundation

/// One `pipelined train` step, timed (tools/bench_training.py): the batch's records through the transformer from
/// given backbone features, MDETR's objective, backward, clipping, AdamW. The frozen text encoder runs once per
/// caption before the timing (cached), as in training.
func trainingBenchmark(_ args: [String]) throws {
    guard args.count >= 3 else {
        FileHandle.standardError.write(Data("usage: detector-bench train WEIGHTS BATCH.json INPUTS.safetensors [STEPS]\n".utf8))
        exit(2)
    }
    struct Batch: Decodable {
        struct Record: Decodable { var image: Int; var ids: [Int]; var boxes: [[Float]]; var tokens: [Int] }
        var config: MDETRConfig
        var records: [Record]
    }
    let batch = try JSONDecoder().decode(Batch.self, from: Data(contentsOf: URL(fileURLWithPath: args[1])))
    let inputs = try SafeTensors(path: args[2])
    let steps = args.count > 3 ? Int(args[3])! : 10
    let model = try TrainableMDETR(config: batch.config, weights: try SafeTensors(path: args[0])) { key in
        !key.hasPrefix("backbone.") && !key.hasPrefix("transformer.text_encoder.")
    }
    let features = try (0..<4).map { try inputs.tensor("feature\($0)") }
    let trainer = Trainer(model: model, tokenizer: TokenIDsTokenizer(), features: { features[$0] },
                          learningRates: (1e-4, 0, 0), emaDecay: nil)
    // Each box's span covers the caption's words; with ids as the "caption", token t spans character range t.
    let records = batch.records.map { r in
        TrainingRecord(image: r.image, caption: r.ids.map(String.init).joined(separator: ","), boxes: r.boxes,
                       spans: r.boxes.map { _ in [] })
    }
    let targets = batch.records.map { r -> MDETRCriterion.Target in
        var map = Tensor(zeros: [r.boxes.count, 256])
        for b in 0..<r.boxes.count { for t in r.tokens { map.data[b * 256 + t] = 1 } }
        return MDETRCriterion.Target(boxes: r.boxes, positiveMap: map)
    }
    var times: [Double] = []
    for s in 0..<(steps + 2) {
        let t = now()
        trainer.stepWithTargets(records, targets: targets)
        if s >= 2 { times.append(now() - t) }
    }
    let sorted = times.sorted()
    let result: [String: Any] = ["step_s": sorted[sorted.count / 2], "best_s": sorted[0], "peak_rss_mb": peakRSSMB(),
                                 "trainable": model.trainableParameters.reduce(0) { $0 + $1.1.value.count }]
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
}
