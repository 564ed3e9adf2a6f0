// Times the detector's parts on a model saved by tools/bench_detector.py (the same random-weight network PyTorch is
// timed on), and measures the machine's sgemm ceiling in the same process.
//
//   detector-bench WEIGHTS.safetensors CONFIG.json HEIGHT WIDTH TOKENS [REPEATS]
//   detector-bench train WEIGHTS.safetensors BATCH.json INPUTS.safetensors [STEPS]   (tools/bench_training.py)
//   detector-bench vocab WEIGHTS.safetensors CONFIG.json HEIGHT WIDTH PROMPTS.json [IMAGES]
//     (tools/bench_vocabulary.py: LVIS-style querying of every prompt, seconds per image)
//   detector-bench detclip LITE0.pth MINILM_DIR LVIS_CATEGORIES.json DEFAULT_MODEL_DIR PHOTO.ppm [REPEATS]
//     (tools/bench_detclip.sh: one-pass DetCLIPv2 against MDETR's exact per-class querying, by vocabulary size)
//   detector-bench ops [TOKENS]   (per-op throughput of the transformer at R101 sizes)
//   detector-bench strategies WEIGHTS.safetensors CONFIG.json HEIGHT WIDTH CATEGORIES.json VOCAB.txt K,K,… [IMAGES]
//     (tools/bench_vocabulary.py --strategies: exact, packed and shortlist on a real vocabulary)
import COpenBLAS
import Detector
import Foundation

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Best of the repeats: on a shared machine the minimum is the least disturbed measurement.
func best(_ xs: [Double]) -> Double { xs.min()! }

func peakRSSMB() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

BLASKernels.reexecIfGenericKernels()
let args = CommandLine.arguments
if args.count > 1, args[1] == "train" {
    try trainingBenchmark(Array(args.dropFirst(2)))
    exit(0)
}
if args.count > 1, args[1] == "ops" {
    transformerOpsBenchmark(Array(args.dropFirst(2)))
    exit(0)
}
if args.count > 1, args[1] == "strategies" {
    try strategyBenchmark(Array(args.dropFirst(2)))
    exit(0)
}
if args.count > 1, args[1] == "detclip" {
    try detclipBenchmark(Array(args.dropFirst(2)))
    exit(0)
}
if args.count > 1, args[1] == "vocab" {
    try vocabularyBenchmark(Array(args.dropFirst(2)))
    exit(0)
}
guard args.count >= 6 else {
    FileHandle.standardError.write(Data("usage: detector-bench WEIGHTS CONFIG HEIGHT WIDTH TOKENS [REPEATS]\n".utf8))
    exit(2)
}
let (weightsPath, configPath) = (args[1], args[2])
let (height, width, tokens) = (Int(args[3])!, Int(args[4])!, Int(args[5])!)
let repeats = args.count > 6 ? Int(args[6])! : 3

// The sgemm ceiling: one large square product, best of three.
let n = 2048
var a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n), c = [Float](repeating: 0, count: n * n)
var best = 0.0
for _ in 0..<3 {
    let t = now()
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, &a, Int32(n), &b, Int32(n), 0, &c, Int32(n))
    best = max(best, 2 * Double(n * n * n) / (now() - t) / 1e9)
}
a = []; b = []; c = []

let rssBefore = peakRSSMB()
let config = try JSONDecoder().decode(MDETRConfig.self, from: Data(contentsOf: URL(fileURLWithPath: configPath)))
let loadStart = now()
let model = try MDETRModel(config: config, weights: try SafeTensors(path: weightsPath))
let loadTime = now() - loadStart

var image = Tensor(zeros: [3, height, width])
for i in 0..<image.count { image.data[i] = Float((i * 7919) % 255) / 127.5 - 1 }
let ids = [0] + (0..<(tokens - 2)).map { 5 + ($0 * 37) % 1000 } + [2]

var tBackbone: [Double] = [], tText: [Double] = [], tTransformer: [Double] = []
for r in 0..<(repeats + 1) {
    var t = now()
    let features = model.encodeImage(image)
    let backbone = now() - t
    t = now()
    let text = model.encodeText(config.text.family == .bert ? ids.map { min($0, config.text.vocabSize - 1) } : ids)
    let textTime = now() - t
    t = now()
    let out = model.forward(image: features, text: text)
    let transformer = now() - t
    precondition(out.logits.count == config.queries * 256)
    if r > 0 {  // the first run warms up
        tBackbone.append(backbone); tText.append(textTime); tTransformer.append(transformer)
    }
}
// For profiling (perf record): DETECTOR_BENCH_TRANSFORMER_LOOP=N runs the transformer N more times.
if let loops = ProcessInfo.processInfo.environment["DETECTOR_BENCH_TRANSFORMER_LOOP"].flatMap({ Int($0) }), loops > 0 {
    let features = model.encodeImage(image)
    let text = model.encodeText(config.text.family == .bert ? ids.map { min($0, config.text.vocabSize - 1) } : ids)
    let t = now()
    for _ in 0..<loops { _ = model.forward(image: features, text: text) }
    FileHandle.standardError.write(Data("transformer loop: \((now() - t) / Double(loops)) s per forward\n".utf8))
}
let result: [String: Any] = [
    "sgemm_gflops": best, "load_s": loadTime,
    "backbone_s": best(tBackbone), "text_s": best(tText), "transformer_s": best(tTransformer),
    "total_s": best(zip(zip(tBackbone, tText), tTransformer).map { $0.0 + $0.1 + $1 }),
    "peak_rss_mb": peakRSSMB(), "rss_before_model_mb": rssBefore,
]
let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: data, as: UTF8.self))
