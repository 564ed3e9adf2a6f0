import Detector
import Foundation

/// The benchmark's prompts are token ids written out ("0,512,77,2"): it times the querying, not a tokenizer.
struct TokenIDsTokenizer: Tokenizer {
    func encode(_ text: String) -> Encoding {
        let ids = text.split(separator: ",").compactMap { Int($0) }
        return Encoding(ids: ids.isEmpty ? [0, 2] : ids, offsets: ids.map { _ in 0..<0 }, text: Array(text.unicodeScalars))
    }
}

/// The network tools/bench_detector.py saved, as a detector fed at the network's own input size (as PyTorch is).
func benchDetector(weights: String, config: String, tokenizer: any Tokenizer) throws -> MDETRDetector {
    let config = try JSONDecoder().decode(MDETRConfig.self, from: Data(contentsOf: URL(fileURLWithPath: config)))
    let detector = try MDETRDetector(model: try MDETRModel(config: config, weights: try SafeTensors(path: weights)), tokenizer: tokenizer,
                                     identity: ModelIdentity(name: "bench", version: "0", weightsSHA256: ""), normalization: .imagenet)
    detector.resize = nil
    return detector
}

/// LVIS-style querying through the product's path (`MDETRDetector.detect(_:vocabulary:settings:)`): the first image
/// fills the text cache and warms up; the following images are timed.
func vocabularyBenchmark(_ args: [String]) throws {
    guard args.count >= 5 else {
        FileHandle.standardError.write(Data("usage: detector-bench vocab WEIGHTS CONFIG HEIGHT WIDTH PROMPTS.json [IMAGES]\n".utf8))
        exit(2)
    }
    let detector = try benchDetector(weights: args[0], config: args[1], tokenizer: TokenIDsTokenizer())
    let (height, width) = (Int(args[2])!, Int(args[3])!)
    let ids = try JSONDecoder().decode([[Int]].self, from: Data(contentsOf: URL(fileURLWithPath: args[4])))
    let images = args.count > 5 ? Int(args[5])! : 1
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

/// The query strategies on one network and image (issue 16): `exact`, `packed` and `shortlist` at several k over a real
/// vocabulary (an LVIS-format categories file, asked with MDETR's clean_name), tokenized with a real WordPiece
/// vocabulary. Per strategy: the text encoding (once per vocabulary, not per image) and seconds per image (backbone,
/// passes, merge), with the passes run.
func strategyBenchmark(_ args: [String]) throws {
    guard args.count >= 7 else {
        FileHandle.standardError.write(Data("usage: detector-bench strategies WEIGHTS CONFIG HEIGHT WIDTH CATEGORIES.json VOCAB.txt K,K,… [IMAGES]\n".utf8))
        exit(2)
    }
    let detector = try benchDetector(weights: args[0], config: args[1], tokenizer: try WordPieceTokenizer(vocabFile: args[5]))
    let (height, width) = (Int(args[2])!, Int(args[3])!)
    struct File: Decodable { struct Category: Decodable { var id: Int; var name: String }; var categories: [Category] }
    let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: args[4])))
    let categories = file.categories.map { CategoryPrompt(categoryID: $0.id, prompt: PromptTemplate.cleanName($0.name)) }
    let ks = args[6].split(separator: ",").compactMap { Int($0) }
    let images = args.count > 7 ? Int(args[7])! : 1
    let strategies: [QueryStrategy] = [.packed(alsoAbove: nil)] + ks.map { .shortlist(k: $0, minScore: nil) } + [.exact]
    var results: [[String: Any]] = []
    for strategy in strategies {
        let query = VocabularyQuery(categories: categories, strategy: strategy)
        var t = now()
        let encoded = try detector.encode(query)
        let encodeSeconds = now() - t
        var times: [Double] = []
        var passes = 0
        for r in 1...images {
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for i in pixels.indices { pixels[i] = UInt8((i &* 7919 &+ r &* 104_729) % 251) }
            t = now()
            let answer = detector.answer(try detector.prepare(RGBImage(width: width, height: height, pixels: pixels)), encoded,
                                         strategy: strategy, settings: query.merge)
            times.append(now() - t)
            passes = answer.passes
        }
        var row: [String: Any] = ["strategy": strategy.description, "seconds_per_image": times.min()!, "all": times,
                                  "passes": passes, "text_encode_s": encodeSeconds, "peak_rss_mb": peakRSSMB()]
        if !encoded.packs.isEmpty {
            row["captions"] = encoded.packs.count
            row["caption_tokens_max"] = encoded.packs.map(\.tokenCount).max()!
        }
        results.append(row)
        FileHandle.standardError.write(Data("\(strategy.description): \(times.min()!) s, \(passes) passes\n".utf8))
    }
    let data = try JSONSerialization.data(withJSONObject: ["categories": categories.count, "results": results], options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
