import Crypto
import Foundation

/// Where a detector's files are and how to turn them into an `MDETRDetector`: an official `.pth` checkpoint (config
/// from its `args`, weights from `model_ema`), or a model directory imported by `pipelined model import`
/// (`model.safetensors` + `manifest.json` + tokenizer files).
public struct ModelPackage {
    public struct Manifest: Codable, Sendable {
        public var name: String
        public var version: String
        public var config: MDETRConfig
        public var normalization: ImageNormalization
        /// Tokenizer files in the model directory: `vocab.json` + `merges.txt` (BPE) or `vocab.txt` (WordPiece).
        public var tokenizerFiles: [String]
        public var weightsSHA256: String
        public var source: String
        public var sourceSHA256: String
        public var sourceStateDict: String
        /// Where the source came from when it was downloaded (`pipelined model fetch`), and its size.
        public var sourceURL: String?
        public var sourceBytes: Int64?
        /// Pretrained weights kept outside the model directory (a trained model ships only what it trained): each
        /// file's keys get `prefix`. `file` may name environment variables as `${NAME}` (the set-up exports where
        /// the pip packages put them); `sha256` is checked at load.
        public var parts: [Part]?
        /// The input resize the model was trained for (shorter side, longer side at most); nil: MDETR's 800/1333.
        public var resize: [Int]?
        /// Evaluation results recorded when the model was made (metric → value).
        public var metrics: [String: Double]?
        /// Whether the model answers packed captions, as measured when it was trained with packed records (or from a
        /// model that did): shortlist (k = 25) within one AP point of the exact protocol on its validation images.
        /// `[query] strategy = "auto"` asks it by shortlist when true (docs/detector.md); nil: never measured.
        public var packedPrompts: Bool?
        /// A DetCLIPv2 model's network (`config` then holds only its backbone and text encoder); nil: MDETR.
        public var detclip: DetCLIPConfig?
        /// The score above which the model's boxes are kept unless a threshold is configured: its F1-best operating
        /// point on validation images (`OperatingPoint`); nil: the family's default (MDETR 0.7, DetCLIPv2 0.5).
        public var scoreThreshold: Double?

        public struct Part: Codable, Sendable {
            public var prefix: String
            public var file: String
            public var sha256: String
            public init(prefix: String, file: String, sha256: String) {
                self.prefix = prefix
                self.file = file
                self.sha256 = sha256
            }
        }

        public init(name: String, version: String, config: MDETRConfig, normalization: ImageNormalization,
                    tokenizerFiles: [String], weightsSHA256: String, source: String, sourceSHA256: String,
                    sourceStateDict: String, parts: [Part]? = nil, resize: [Int]? = nil, metrics: [String: Double]? = nil) {
            self.name = name
            self.version = version
            self.config = config
            self.normalization = normalization
            self.tokenizerFiles = tokenizerFiles
            self.weightsSHA256 = weightsSHA256
            self.source = source
            self.sourceSHA256 = sourceSHA256
            self.sourceStateDict = sourceStateDict
            self.parts = parts
            self.resize = resize
            self.metrics = metrics
        }
    }

    /// `${NAME}` replaced by the environment's value; missing variables are an error naming every one.
    public static func expand(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var out = ""
        var missing: [String] = []
        var rest = path[...]
        while let start = rest.range(of: "${"), let end = rest.range(of: "}", range: start.upperBound..<rest.endIndex) {
            out += rest[..<start.lowerBound]
            let name = String(rest[start.upperBound..<end.lowerBound])
            if let value = environment[name], !value.isEmpty { out += value } else { missing.append(name) }
            rest = rest[end.upperBound...]
        }
        out += rest
        guard missing.isEmpty else {
            throw WeightsError.missingConfig("\(path) needs the environment variable\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")), which name pretrained files this model is built on")
        }
        return out
    }

    /// A weight file by extension: safetensors, or a PyTorch checkpoint / state dict.
    public static func weightFile(_ path: String) throws -> any WeightSource {
        path.hasSuffix(".safetensors") ? try SafeTensors(path: path) : try TorchCheckpoint(path: path).stateDict()
    }

    /// The model directory's weights with its external parts merged in (each part's hash checked).
    public static func weights(directory path: String, manifest: Manifest) throws -> any WeightSource {
        let own = try SafeTensors(path: path + "/model.safetensors")
        guard let parts = manifest.parts, !parts.isEmpty else { return own }
        var sources: [(prefix: String, source: any WeightSource)] = [("", own)]
        for part in parts {
            let file = try expand(part.file)
            let hash = try sha256(file: file)
            guard hash == part.sha256 else {
                throw WeightsError.missingConfig("\(file) has sha256 \(hash.prefix(12))…, the model was made with \(part.sha256.prefix(12))…")
            }
            sources.append((part.prefix, try weightFile(file)))
        }
        return try MergedWeights(sources)
    }

    /// Tokenizer files and text-encoder hyper-parameters a checkpoint does not carry.
    public struct Options: Sendable {
        public var vocabFile: String?
        public var mergesFile: String?
        public var textConfigFile: String?
        /// Configuration fields to replace, by their `args` names.
        public var overrides: [String: String]
        public init(vocabFile: String? = nil, mergesFile: String? = nil, textConfigFile: String? = nil,
                    overrides: [String: String] = [:]) {
            self.vocabFile = vocabFile
            self.mergesFile = mergesFile
            self.textConfigFile = textConfigFile
            self.overrides = overrides
        }
    }

    /// Loads a detector of either family: a DetCLIPv2 model directory (its manifest names the network), else as `load`.
    public static func loadDetector(_ path: String, options: Options = Options()) throws -> any ImageDetector {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
              let manifest = try? Self.manifest(directory: path) else { return try load(path, options: options) }
        let detector = try loadDetector(directory: path, manifest: manifest, options: options)
        if let threshold = manifest.scoreThreshold {
            guard threshold >= 0, threshold < 1 else {
                throw WeightsError.missingConfig("\(path)/manifest.json: scoreThreshold \(threshold) is not a score (0 ≤ t < 1)")
            }
            detector.threshold = Float(threshold)
        }
        return detector
    }

    private static func loadDetector(directory path: String, manifest: Manifest, options: Options) throws -> any ImageDetector {
        if let detclip = manifest.detclip {
            let tokenizer = try WordPieceTokenizer(vocabFile: path + "/" + (manifest.tokenizerFiles.first ?? "vocab.txt"))
            let model = try DetCLIPModel(config: detclip, weights: try weights(directory: path, manifest: manifest), tokenizer: tokenizer)
            let detector = DetCLIPDetector(model: model, identity: ModelIdentity(name: manifest.name, version: manifest.version,
                                                                                 weightsSHA256: manifest.weightsSHA256),
                                           normalization: manifest.normalization)
            if let resize = manifest.resize, resize.count == 2 { detector.resize = (resize[0], resize[1]) }
            return detector
        }
        return try load(path, options: options)
    }

    /// Loads an MDETR detector from a checkpoint file or a model directory.
    public static func load(_ path: String, options: Options = Options()) throws -> MDETRDetector {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DetectorError.modelNotFound(path: path)
        }
        if isDirectory.boolValue { return try loadDirectory(path) }
        let (config, state, hash) = try readCheckpoint(path, options: options)
        let model = try MDETRModel(config: config, weights: state)
        let tokenizer = try makeTokenizer(config, options: options, near: path)
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return try MDETRDetector(model: model, tokenizer: tokenizer,
                                 identity: ModelIdentity(name: name, version: String(hash.prefix(12)), weightsSHA256: hash),
                                 normalization: normalization(for: config))
    }

    /// Converts a checkpoint into a model directory: float32 safetensors of the chosen state dict, the tokenizer
    /// files, and a manifest with every hash. Returns the manifest.
    @discardableResult
    public static func importCheckpoint(_ path: String, into directory: String, name: String,
                                        options: Options = Options(), sourceURL: String? = nil) throws -> Manifest {
        let (config, state, sourceHash) = try readCheckpoint(path, options: options)
        // Building the network checks every key and shape before anything is written.
        let model = try MDETRModel(config: config, weights: state)
        _ = model
        let tokenizerSources = try tokenizerPaths(config, options: options, near: path)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let weightsPath = directory + "/model.safetensors"
        let tensors = try state.keys.filter { !$0.hasSuffix("position_ids") && !$0.hasSuffix("num_batches_tracked") }
            .map { ($0, try state.tensor($0)) }
        try SafeTensors.write(tensors, metadata: ["format": "pt", "source": URL(fileURLWithPath: path).lastPathComponent],
                              to: weightsPath)
        var files: [String] = []
        for source in tokenizerSources {
            let file = URL(fileURLWithPath: source).lastPathComponent
            let target = directory + "/" + file
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: source, toPath: target)
            files.append(file)
        }
        let weightsHash = try sha256(file: weightsPath)
        var manifest = Manifest(name: name, version: String(weightsHash.prefix(12)), config: config,
                                normalization: normalization(for: config), tokenizerFiles: files,
                                weightsSHA256: weightsHash, source: path, sourceSHA256: sourceHash,
                                sourceStateDict: (state as? CheckpointStateDict)?.source ?? "weights")
        manifest.sourceURL = sourceURL
        manifest.sourceBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        try write(manifest, directory: directory)
        return manifest
    }

    /// Writes `manifest.json` into a model directory (whole or not at all).
    public static func write(_ manifest: Manifest, directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: directory + "/manifest.json"), options: .atomic)
    }

    /// The manifest of the model directory at `path`.
    public static func manifest(directory path: String) throws -> Manifest {
        guard let data = FileManager.default.contents(atPath: path + "/manifest.json") else { throw DetectorError.modelNotFound(path: path) }
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    static func loadDirectory(_ path: String) throws -> MDETRDetector {
        let manifest = try Self.manifest(directory: path)
        let model = try MDETRModel(config: manifest.config, weights: try weights(directory: path, manifest: manifest))
        let files = manifest.tokenizerFiles.map { path + "/" + $0 }
        let tokenizer: any Tokenizer = manifest.config.text.family == .roberta
            ? try ByteLevelBPETokenizer(vocabFile: files.first { $0.hasSuffix(".json") } ?? path + "/vocab.json",
                                        mergesFile: files.first { $0.hasSuffix(".txt") } ?? path + "/merges.txt")
            : try WordPieceTokenizer(vocabFile: files.first ?? path + "/vocab.txt")
        let detector = try MDETRDetector(model: model, tokenizer: tokenizer,
                                         identity: ModelIdentity(name: manifest.name, version: manifest.version,
                                                                 weightsSHA256: manifest.weightsSHA256),
                                         normalization: manifest.normalization)
        if let resize = manifest.resize, resize.count == 2 { detector.resize = (resize[0], resize[1]) }
        detector.answersPackedPrompts = manifest.packedPrompts ?? false
        return detector
    }

    static func readCheckpoint(_ path: String, options: Options) throws -> (MDETRConfig, any WeightSource, String) {
        let checkpoint = try TorchCheckpoint(path: path)
        guard let args = checkpoint.args else {
            throw WeightsError.missingConfig("\(path) has no 'args': not an MDETR training checkpoint")
        }
        let config = try MDETRConfig(args: args, textConfig: try textConfig(options, near: path))
            .applying(overrides: options.overrides)
        return (config, try checkpoint.stateDict(), try sha256(file: path))
    }

    /// A HuggingFace `config.json` for the text encoder: `--text-config`, or one lying next to the checkpoint.
    static func textConfig(_ options: Options, near path: String) throws -> TextEncoderConfig? {
        let candidate = options.textConfigFile
            ?? URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("config.json").path
        guard let data = FileManager.default.contents(atPath: candidate) else { return nil }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw WeightsError.missingConfig("\(candidate) is not a JSON text-encoder config")
        }
        func int(_ k: String) throws -> Int {
            guard let v = json[k] as? Int else { throw WeightsError.missingConfig("\(candidate) lacks \(k)") }
            return v
        }
        let family: TextEncoderConfig.Family = (json["model_type"] as? String) == "bert" ? .bert : .roberta
        return TextEncoderConfig(family: family, vocabSize: try int("vocab_size"), hidden: try int("hidden_size"),
                                 layers: try int("num_hidden_layers"), heads: try int("num_attention_heads"),
                                 intermediate: try int("intermediate_size"),
                                 layerNormEps: Float(json["layer_norm_eps"] as? Double ?? (family == .bert ? 1e-12 : 1e-5)),
                                 maxPositions: try int("max_position_embeddings"),
                                 typeVocabSize: json["type_vocab_size"] as? Int ?? 1,
                                 padTokenID: json["pad_token_id"] as? Int ?? (family == .bert ? 0 : 1))
    }

    static func tokenizerPaths(_ config: MDETRConfig, options: Options, near path: String) throws -> [String] {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        func find(_ given: String?, _ name: String) -> String? {
            if let given { return given }
            let p = dir + "/" + name
            return FileManager.default.fileExists(atPath: p) ? p : nil
        }
        if config.text.family == .roberta {
            guard let vocab = find(options.vocabFile, "vocab.json"), let merges = find(options.mergesFile, "merges.txt") else {
                throw DetectorError.tokenizerFilesMissing(needed: ["vocab.json", "merges.txt"], searched: dir)
            }
            return [vocab, merges]
        }
        guard let vocab = find(options.vocabFile, "vocab.txt") else {
            throw DetectorError.tokenizerFilesMissing(needed: ["vocab.txt"], searched: dir)
        }
        return [vocab]
    }

    static func makeTokenizer(_ config: MDETRConfig, options: Options, near path: String) throws -> any Tokenizer {
        let files = try tokenizerPaths(config, options: options, near: path)
        return config.text.family == .roberta
            ? try ByteLevelBPETokenizer(vocabFile: files[0], mergesFile: files[1])
            : try WordPieceTokenizer(vocabFile: files[0])
    }

    static func normalization(for config: MDETRConfig) -> ImageNormalization {
        config.backbone == "efficientnet_lite0" ? .symmetric : .imagenet
    }

    /// sha256 of a file, streamed.
    public static func sha256(file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw WeightsError.unreadable(path: path, reason: "cannot open")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
