import Detector
import Foundation

/// Issue 18's vocabulary benchmark: a real photo scaled to 800×1066, the 1,203 LVIS v1 names, asked of
///   - DetCLIPv2 (pretrained Lite0 and MiniLM, a fresh head of the default model's shape: a network's cost does not
///     depend on its weights): one image pass and one region·concept product, at 1, 10, 100, 1,203 and 10,000
///     concepts (beyond 1,203: LVIS names with a numbered suffix);
///   - MDETR of the same backbone and text encoder (the default install's grounding model) asking every class as its own prompt
///     (`exact`, the official protocol), at the same input size.
/// Concept and prompt encodings are made once per vocabulary beforehand (timed apart); per image: best of REPEATS.
/// Both models resize the photo as MDETR's evaluation does (shorter side 800, longer ≤ 1333) unless
/// DETECTOR_BENCH_RESIZE=SHORT,LONG says otherwise (320,480: the input both default models were trained at, which is
/// what the daemon gives them).
///
///   detector-bench detclip LITE0.pth MINILM_DIR LVIS_CATEGORIES.json DEFAULT_MODEL_DIR PHOTO [REPEATS] [SIZES]
/// (SIZES: concept counts, comma-separated; with SIZES the MDETR run is left out.)
func detclipBenchmark(_ args: [String]) throws {
    guard args.count >= 5 else {
        FileHandle.standardError.write(Data("usage: detector-bench detclip LITE0.pth MINILM_DIR LVIS_CATEGORIES.json DEFAULT_MODEL_DIR PHOTO [REPEATS]\n".utf8))
        exit(2)
    }
    let repeats = args.count > 5 ? Int(args[5]) ?? 2 : 2
    let tokenizer = try WordPieceTokenizer(vocabFile: args[1] + "/vocab.txt")
    var config = DetCLIPConfig(backbone: "efficientnet_lite0", textEncoderType: "all-MiniLM-L6-v2", text: .miniLML6,
                               backboneChannels: [40, 112, 320])
    (config.channels, config.levels, config.stackedConvs, config.alignDim) = (128, 5, 2, 128)
    let weights = try MergedWeights([("backbone.", try ModelPackage.weightFile(args[0])),
                                     ("text_encoder.", try SafeTensors(path: args[1] + "/model.safetensors")),
                                     ("", InMemoryWeights(TrainableDetCLIP.freshWeights(config: config, seed: 0)))])
    let detclip = DetCLIPDetector(model: try DetCLIPModel(config: config, weights: weights, tokenizer: tokenizer),
                                  identity: ModelIdentity(name: "bench", version: "0", weightsSHA256: ""), normalization: .symmetric)
    let resize = ProcessInfo.processInfo.environment["DETECTOR_BENCH_RESIZE"].map { $0.split(separator: ",").compactMap { Int($0) } }
        .flatMap { $0.count == 2 ? ($0[0], $0[1]) : nil } ?? (800, 1333)
    detclip.resize = resize

    struct File: Decodable { struct Category: Decodable { var id: Int; var name: String }; var categories: [Category] }
    let lvis = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: args[2]))).categories
    let names = lvis.map { PromptTemplate.cleanName($0.name).trimmingCharacters(in: .whitespaces) }
    let photo = try ImageDecoderForBench.decode(args[4])
    let image = PillowResize.bilinear(photo, width: 1066, height: 800)

    func vocabulary(_ k: Int) -> [CategoryPrompt] {
        (0..<k).map { i in CategoryPrompt(categoryID: i + 1, prompt: i < names.count ? names[i] : "\(names[i % names.count]) \(i / names.count)") }
    }
    var rows: [[String: Any]] = []
    var detclipSeconds: [Int: Double] = [:]
    let sizes = args.count > 6 ? args[6].split(separator: ",").compactMap { Int($0) } : [1, 10, 100, 1203, 10_000]
    for k in sizes {
        let query = VocabularyQuery(categories: vocabulary(k))
        var t = now()
        _ = try detclip.detect(image, vocabulary: query, progress: nil)   // encodes the concepts (and warms up)
        let first = now() - t
        var times: [Double] = []
        for _ in 0..<repeats {
            t = now()
            _ = try detclip.detect(image, vocabulary: query, progress: nil)
            times.append(now() - t)
        }
        detclipSeconds[k] = best(times)
        rows.append(["model": "detclip", "concepts": k, "seconds_per_image": best(times), "first_image_with_encoding": first])
        FileHandle.standardError.write(Data("detclip \(k) concepts: \(best(times)) s\n".utf8))
    }

    // Where one pass goes: backbone (C3–C5), pyramid (P3–P7), head (towers, deformable region conv, boxes); the rest
    // of `detect` (normalization, scoring, NMS) is the total less these.
    let model = detclip.model
    let (w, h) = Preprocessing.evalSize(width: image.width, height: image.height, size: resize.0, maxSize: resize.1)
    let input = Preprocessing.tensor(PillowResize.bilinear(image, width: w, height: h), normalization: .symmetric)
    var parts: [String: [Double]] = [:]
    for _ in 0..<(repeats + 1) {
        var t = now()
        let c = model.backbone.pyramid(input)
        parts["backbone", default: []].append(now() - t)
        t = now()
        let p = model.network.neck(c)
        parts["pyramid", default: []].append(now() - t)
        t = now()
        _ = p.enumerated().map { model.network.head($1, level: $0) }
        parts["head", default: []].append(now() - t)
    }
    let partSeconds = parts.mapValues { best(Array($0.dropFirst())) }
    rows.append(["model": "detclip", "parts_seconds": partSeconds])
    FileHandle.standardError.write(Data("detclip parts: \(partSeconds)\n".utf8))

    guard args.count <= 6 else {
        print(String(decoding: try JSONSerialization.data(withJSONObject: ["rows": rows], options: [.sortedKeys]), as: UTF8.self))
        return
    }
    let mdetr = try ModelPackage.load(args[3])
    mdetr.resize = resize
    let query = VocabularyQuery(categories: vocabulary(1203), strategy: .exact)
    var t = now()
    _ = try mdetr.encode(query)
    let encoding = now() - t
    var times: [Double] = []
    var passes = 0
    for _ in 0..<max(1, repeats - 1) {
        t = now()
        passes = try mdetr.detect(image, vocabulary: query, progress: nil).passes
        times.append(now() - t)
    }
    let mdetrSeconds = best(times)
    rows.append(["model": "mdetr-exact", "concepts": 1203, "seconds_per_image": mdetrSeconds, "text_encoding_seconds": encoding, "passes": passes])
    let summary: [String: Any] = [
        "rows": rows, "peak_rss_mb": peakRSSMB(), "resize": [resize.0, resize.1],
        "speedup_1203": mdetrSeconds / (detclipSeconds[1203] ?? .nan),
        "vocabulary_over_one_prompt_1203": (detclipSeconds[1203] ?? .nan) / (detclipSeconds[1] ?? .nan),
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
}

/// The benchmark reads its photo as binary PPM (P6, 8-bit): the bench links the Detector only, not the codecs.
enum ImageDecoderForBench {
    static func decode(_ path: String) throws -> RGBImage {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var fields: [String] = [], i = data.startIndex, current = ""
        while fields.count < 4, i < data.endIndex {
            let c = Character(UnicodeScalar(data[i]))
            if c.isWhitespace { if !current.isEmpty { fields.append(current); current = "" } } else { current.append(c) }
            i += 1
        }
        guard fields.count == 4, fields[0] == "P6", let w = Int(fields[1]), let h = Int(fields[2]), fields[3] == "255",
              data.endIndex - i >= w * h * 3 else { throw CocoaError(.fileReadCorruptFile) }
        return RGBImage(width: w, height: h, pixels: [UInt8](data[i..<(i + w * h * 3)]))
    }
}
