import Foundation
import Testing
@testable import Detector

/// DetCLIPv2 behind `ImageDetector`, on the pretrained Lite0 and MiniLM with a fresh head: a whole vocabulary is one
/// pass whose answers equal asking each concept alone; the concept embeddings are encoded once per vocabulary and
/// kept by a store across detectors; scores stay probabilities and boxes stay inside the image.
@Suite struct DetCLIPDetectorTests {
    final class MemoryStore: TextFeatureStore, @unchecked Sendable {
        var entries: [String: Data] = [:]
        func load(key: String) -> Data? { entries[key] }
        func save(key: String, data: Data) { entries[key] = data }
    }

    static func detector() throws -> DetCLIPDetector {
        let env = ProcessInfo.processInfo.environment
        let lite0 = try #require(env["PIPELINED_LITE0_WEIGHTS"], "PIPELINED_LITE0_WEIGHTS is set by tools/setup.sh test")
        let minilm = try #require(env["PIPELINED_MINILM_DIR"], "PIPELINED_MINILM_DIR is set by tools/setup.sh test")
        var config = DetCLIPConfig(backbone: "efficientnet_lite0", textEncoderType: "all-MiniLM-L6-v2", text: .miniLML6,
                                   backboneChannels: [40, 112, 320])
        (config.channels, config.levels, config.alignDim) = (32, 5, 16)
        // A fresh head whose logits spread: a random logit scale instead of the prior's.
        var fresh = TrainableDetCLIP.freshWeights(config: config, seed: 3)
        for i in fresh.indices where fresh[i].0 == "logit_bias" { fresh[i].1 = Tensor(repeating: 0, shape: [1]) }
        let weights = try MergedWeights([("backbone.", try ModelPackage.weightFile(lite0)),
                                         ("text_encoder.", try SafeTensors(path: minilm + "/model.safetensors")),
                                         ("", InMemoryWeights(fresh))])
        let model = try DetCLIPModel(config: config, weights: weights, tokenizer: try WordPieceTokenizer(vocabFile: minilm + "/vocab.txt"))
        let detector = DetCLIPDetector(model: model, identity: ModelIdentity(name: "test", version: "1", weightsSHA256: "x"),
                                       normalization: .symmetric)
        detector.resize = (96, 128)
        return detector
    }

    static func image() -> RGBImage {
        var rng = SplitMix64(seed: 5)
        let (w, h) = (150, 110)
        return RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
    }

    @Test func aVocabularyIsOnePassThatAgreesWithAskingEachConcept() throws {
        let detector = try Self.detector()
        let names = ["red star", "blue ring: a ring of a single blue color", "green cube", "cat", "a very long prompt " + String(repeating: "word ", count: 600)]
        let query = VocabularyQuery(categories: names.enumerated().map { CategoryPrompt(categoryID: 10 + $0.offset, prompt: $0.element) },
                                    merge: MergeSettings(topN: 50, scoreThreshold: 0, nmsIoU: 0.6))
        let answer = try detector.detect(Self.image(), vocabulary: query, progress: nil)
        #expect(answer.passes == 1 && answer.detections.count == 50)
        #expect(answer.detections.allSatisfy { $0.score > 0 && $0.score <= 1 && $0.box.x0 >= 0 && $0.box.x1 <= 150 && $0.box.y1 <= 110 })
        // Each category alone finds its own boxes with the same scores.
        for (k, name) in names.enumerated().prefix(3) {
            let alone = try detector.detect(Self.image(), vocabulary: VocabularyQuery(categories: [CategoryPrompt(categoryID: 10 + k, prompt: name)],
                                                                                      merge: MergeSettings(topN: 0, scoreThreshold: 0, nmsIoU: 0.6)),
                                            progress: nil)
            let mine = answer.detections.filter { $0.categoryID == 10 + k }
            for d in mine { #expect(alone.detections.contains { $0.box == d.box && abs($0.score - d.score) < 1e-6 }, "\(name): \(d)") }
        }
    }

    @Test func conceptEmbeddingsAreEncodedOncePerVocabularyAndKeptByTheStore() throws {
        let store = MemoryStore()
        let query = VocabularyQuery(categories: [CategoryPrompt(categoryID: 1, prompt: "red star"), CategoryPrompt(categoryID: 2, prompt: "cat")],
                                    version: "v@1", store: store)
        let first = try Self.detector()
        let a = try first.detect(Self.image(), vocabulary: query, progress: nil)
        #expect(!a.textFromStore && store.entries.count == 1)
        let second = try Self.detector()
        let b = try second.detect(Self.image(), vocabulary: query, progress: nil)
        #expect(b.textFromStore && b.detections == a.detections)
        // A damaged entry (wrong size, or NaN) is re-encoded, not used.
        let key = try #require(store.entries.keys.first)
        store.entries[key] = Data(repeating: 0xFF, count: store.entries[key]!.count)
        let third = try Self.detector().detect(Self.image(), vocabulary: query, progress: nil)
        #expect(!third.textFromStore && third.detections == a.detections)
        #expect(throws: DetectorError.self) { _ = try first.detect(Self.image(), prompts: ["  "]) }
    }

    /// Images of any shape the decoder lets through — one pixel, a sliver, a long strip — fed at their own size give
    /// boxes inside them and scores in (0, 1], without a trap.
    @Test func oddImageSizesAreAnsweredInsideTheImage() throws {
        let detector = try Self.detector()
        detector.resize = nil
        let query = VocabularyQuery(categories: [CategoryPrompt(categoryID: 1, prompt: "red star")], merge: MergeSettings(topN: 20))
        for (w, h) in [(1, 1), (2, 37), (301, 3), (9, 9)] {
            let image = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 200, count: w * h * 3))
            let answer = try detector.detect(image, vocabulary: query, progress: nil)
            #expect(answer.detections.allSatisfy { $0.score > 0 && $0.score <= 1 && $0.box.x0 >= 0 && $0.box.x1 <= Float(w) && $0.box.y1 <= Float(h) },
                    "\(w)×\(h)")
            _ = try detector.detect(image, prompts: ["cat"])
        }
    }

    /// The scoring skips pairs that cannot enter the kept set; what it keeps is what scoring every pair and sorting
    /// keeps.
    @Test func prunedScoringKeepsWhatExhaustiveScoringKeeps() throws {
        let detector = try Self.detector()
        let prepared = detector.prepare(Self.image())
        let concepts = detector.model.encodeConcepts(["red star", "blue ring", "cat", "a dog on a mat"])
        let kept = detector.scored(prepared, concepts: concepts, limit: 200)
        let logits = detector.model.logits(prepared.regions.embeddings, concepts: concepts)
        var all: [(location: Int, concept: Int, score: Float)] = []
        for n in 0..<prepared.regions.embeddings.shape[0] {
            let center = 1 / (1 + expf(-prepared.regions.centerness[n]))
            for c in 0..<4 { all.append((n, c, (center / (1 + expf(-logits.data[n * 4 + c]))).squareRoot())) }
        }
        all.sort { $0.score != $1.score ? $0.score > $1.score : ($0.location, $0.concept) < ($1.location, $1.concept) }
        #expect(kept.count == 200)
        for (a, b) in zip(kept.prefix(195), all.prefix(195)) {
            #expect(a.location == b.location && a.concept == b.concept && abs(a.score - b.score) < 1e-6, "\(a) vs \(b)")
        }
    }
}
