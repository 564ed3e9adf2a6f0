import Foundation

/// Models `pipelined model fetch` knows how to get: the official MDETR checkpoints (reference/mdetr.md §2.1) with the
/// roberta-base tokenizer files they need, or the entries of a catalog file given with `--catalog` (same schema, JSON).
struct ModelCatalog: Codable {
    struct File: Codable {
        /// The name it is saved under, next to the checkpoint (`vocab.json`, `merges.txt` and `config.json` are found
        /// there by the import).
        var name: String
        /// Mirrors, tried in order.
        var urls: [String]
        /// When published: the download must match it.
        var sha256: String?
        var bytes: Int64?
    }

    struct Entry: Codable {
        var name: String
        var aliases: [String]?
        var description: String
        /// The size announced to users before they start (the server's own figure is what is checked).
        var approximateBytes: Int64?
        var checkpoint: File
        /// Tokenizer files and, for a text encoder that is not a known one, its HuggingFace `config.json`.
        var companions: [File]
        /// What the checkpoint's `args` must say: another network under the same name is refused.
        var backbone: String?
        var textEncoder: String?
    }

    var models: [Entry]

    func entry(_ name: String) -> Entry? {
        models.first { $0.name == name || ($0.aliases ?? []).contains(name) }
    }

    static func load(file path: String) throws -> ModelCatalog {
        guard let data = FileManager.default.contents(atPath: path) else { throw FetchError.catalog(path: path, reason: "cannot be read") }
        let catalog: ModelCatalog
        do { catalog = try JSONDecoder().decode(ModelCatalog.self, from: data) } catch {
            throw FetchError.catalog(path: path, reason: "is not a model catalog: \(error)")
        }
        for entry in catalog.models {
            for file in [entry.checkpoint] + entry.companions where file.urls.isEmpty || file.name.contains("/") || file.name.hasPrefix(".") {
                throw FetchError.catalog(path: path, reason: "lists \(entry.name)'s file '\(file.name)' with \(file.urls.isEmpty ? "no URL" : "a name that is not a plain file name")")
            }
        }
        return catalog
    }

    /// Every URL replaced by `<mirror>/<name>`: a local copy of the files (checkpoints under their published names).
    func mirrored(at mirror: String) -> ModelCatalog {
        let base = mirror.hasSuffix("/") ? String(mirror.dropLast()) : mirror
        func move(_ f: File) -> File {
            var f = f
            f.urls = [base + "/" + f.name]
            return f
        }
        var copy = self
        copy.models = models.map { e in
            var e = e
            e.checkpoint = move(e.checkpoint)
            e.companions = e.companions.map(move)
            return e
        }
        return copy
    }

    // MARK: the official checkpoints

    static let zenodo = "https://zenodo.org/record/4721981/files/"
    /// roberta-base's tokenizer, which no MDETR checkpoint carries (its weights are inside the checkpoint).
    static let robertaTokenizer = [
        File(name: "vocab.json", urls: ["https://huggingface.co/FacebookAI/roberta-base/resolve/main/vocab.json"]),
        File(name: "merges.txt", urls: ["https://huggingface.co/FacebookAI/roberta-base/resolve/main/merges.txt"]),
    ]

    static func official(_ name: String, aliases: [String] = [], _ description: String, file: String, mirrors: [String] = [],
                         gigabytes: Double, backbone: String) -> Entry {
        Entry(name: name, aliases: aliases, description: description, approximateBytes: Int64(gigabytes * 1e9),
              checkpoint: File(name: file, urls: [zenodo + file + "?download=1"] + mirrors),
              companions: robertaTokenizer, backbone: backbone, textEncoder: "roberta-base")
    }

    static let builtIn = ModelCatalog(models: [
        official("mdetr-r101", "MDETR ResNet-101 + RoBERTa, pre-trained on 1.3M image-text pairs (Flickr30k, COCO, VG): captions and phrases",
                 file: "pretrained_resnet101_checkpoint.pth",
                 mirrors: ["https://pytorch.s3.amazonaws.com/models/multimodal/mdetr/pretrained_resnet101_checkpoint.pth"],
                 gigabytes: 3.0, backbone: "resnet101"),
        official("mdetr-enb3", "MDETR EfficientNet-B3 + RoBERTa, pre-trained (same data as mdetr-r101)",
                 file: "pretrained_EB3_checkpoint.pth", gigabytes: 2.4, backbone: "timm_tf_efficientnet_b3_ns"),
        official("mdetr-enb5", "MDETR EfficientNet-B5 + RoBERTa, pre-trained (same data as mdetr-r101)",
                 file: "pretrained_EB5_checkpoint.pth", gigabytes: 2.7, backbone: "timm_tf_efficientnet_b5_ns"),
        official("lvis1", aliases: ["mdetr-lvis1"], "MDETR ResNet-101 fine-tuned on 1% of LVIS (few-shot): whole vocabularies",
                 file: "lvis1_checkpoint.pth", gigabytes: 3.0, backbone: "resnet101"),
        official("lvis10", aliases: ["mdetr-lvis10"], "MDETR ResNet-101 fine-tuned on 10% of LVIS (few-shot): whole vocabularies",
                 file: "lvis10_checkpoint.pth", gigabytes: 3.0, backbone: "resnet101"),
        official("lvis100", aliases: ["mdetr-lvis100"], "MDETR ResNet-101 fine-tuned on all of LVIS: whole vocabularies",
                 file: "lvis100_checkpoint.pth", gigabytes: 3.0, backbone: "resnet101"),
    ])
}
