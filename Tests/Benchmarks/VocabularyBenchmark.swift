import Detector
import Foundation

/// The benchmark's prompts are token ids written out ("0,512,77,2"): it times the querying, not a tokenizer.
struct TokenIDsTokenizer: Tokenizer {
    func encode(_ text: String) -> Encoding {
        let ids = text.split(separator: ",").compactMap { Int($0) }
        return Encoding(ids: ids.isEmpty ? [0, 2] : ids, offsets: ids.map { _ in 0..<0 }, text: Array(text.unicodeScalars))
    }
}

/// LVIS-style querying through the product's path (`MDETRDetector.detect(_:vocabulary:settings:)`): the first image
/// fills the text cache and warms up; the following images are timed.
func vocabularyBenchmark(_ args: [String]) throws {
    guard args.count >= 5 else {
        FileHandle.standardError.write(Data("usage: detector-bench vocab WEIGHTS CONFIG HEIGHT WIDTH PROMPTS.json [IMAGES]\n".utf8))
        exit(2)
    }
    let config = try JSONDecoder().decode(MDETRConfig.self, from: Data(contentsOf: URL(fileURLWithPath: args[1])))
    let model = try MDETRModel(config: config, weights: try SafeTensors(path: args[0]))
    let (height, width) = (Int(args[2])!, Int(args[3])!)
    let ids = try JSONDecoder().decode([[Int]].self, from: Data(contentsOf: URL(fileURLWithPath: args[4])))
    let images = args.count > 5 ? Int(args[5])! : 1
    let detector = try MDETRDetector(model: model, tokenizer: TokenIDsTokenizer(),
                                     identity: ModelIdentity(name: "bench", version: "0", weightsSHA256: ""),
                                     normalization: .imagenet)
    detector.resize = nil   // the input is already the network's size, as on the PyTorch side
    let vocabulary = ids.enumerated().map { CategoryPrompt(categoryID: $0.offset + 1, prompt: $0.element.map(String.init).joined(separator: ",")) }
    var times: [Double] = []
    var kept = 0
    for r in 0...images {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in pixels.indices { pixels[i] = UInt8((i &* 7919 &+ r &* 104_729) % 251) }
        let image = RGBImage(width: width, height: height, pixels: pixels)
        if r == 0 {
            // Warm-up: every prompt encoded into the cache (once per vocabulary), one pass run.
            for entry in vocabulary { _ = try detector.encode(entry.prompt) }
            _ = try detector.detect(image, vocabulary: Array(vocabulary.prefix(detector.promptsPerPass)))
            continue
        }
        let t = now()
        kept = try detector.detect(image, vocabulary: vocabulary).count
        times.append(now() - t)
    }
    let result: [String: Any] = ["seconds_per_image": times.min()!, "all": times, "kept": kept, "peak_rss_mb": peakRSSMB()]
    let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
