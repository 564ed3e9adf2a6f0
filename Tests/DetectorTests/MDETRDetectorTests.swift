import Foundation
import Testing
@testable import Detector

/// The whole detect path (checkpoint → config from args, text config and tokenizer files next to it → Pillow resize
/// → normalization → network) against the PyTorch reference; model import; bad prompts.
@Suite struct MDETRDetectorTests {
    struct Case: Decodable { let caption: String; let width: Int; let height: Int; let resized: [Int] }

    static let dir = Fixtures.path("mdetr_end_to_end")

    func check(_ detector: MDETRDetector) throws {
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/case.json")))
        let io = try SafeTensors(path: Self.dir + "/io.safetensors")
        let image = PreprocessingTests.pattern(c.width, c.height)
        let prepared = try detector.prepare(image)
        let (encoding, text) = try detector.encode(c.caption)
        #expect(encoding.ids == (try io.tensor("input_ids")).data.map { Int($0) })
        let out = detector.run(prepared, text: text)
        expectClose(out.logits, try io.tensor("pred_logits"), "end-to-end logits")
        expectClose(out.boxes, try io.tensor("pred_boxes"), "end-to-end boxes")
        // A second encoding of the same prompt comes from the cache and is the same.
        let (again, againText) = try detector.encode(c.caption)
        #expect(again == encoding && againText.tokens == text.tokens)
        // The demo recipe runs and reports boxes in original pixels.
        detector.threshold = 0
        let detections = try detector.detect(image, prompts: [c.caption])
        #expect(detections.count == 10)
        #expect(detections.allSatisfy { $0.prompt == c.caption && $0.score >= 0 && $0.score <= 1 })
    }

    @Test func officialCheckpointWithFilesNextToIt() throws {
        let detector = try ModelPackage.load(Self.dir + "/checkpoint.pth")
        #expect(detector.identity.weightsSHA256 == (try ModelPackage.sha256(file: Self.dir + "/checkpoint.pth")))
        try check(detector)
    }

    @Test func importedModelGivesTheSameOutputs() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let manifest = try ModelPackage.importCheckpoint(Self.dir + "/checkpoint.pth", into: out, name: "tiny")
        #expect(manifest.weightsSHA256 == (try ModelPackage.sha256(file: out + "/model.safetensors")))
        #expect(manifest.sourceStateDict == "model_ema")
        #expect(Set(manifest.tokenizerFiles) == ["vocab.json", "merges.txt"])
        let detector = try ModelPackage.load(out)
        #expect(detector.identity.name == "tiny" && detector.identity.version == manifest.version)
        try check(detector)
    }

    /// Images the decoder accepts however thin they are: the evaluation resize once rounded the short side of a
    /// 10000×1 image to 0 and trapped on an infinite scale (exit 132 from a file in the inbox).
    @Test(arguments: [(10000, 1), (1, 10000), (1300, 1), (2600, 1), (16384, 7), (7, 16384), (1, 1), (2, 1)])
    func anyImageSizeTheDecoderAcceptsIsDetected(_ size: (Int, Int)) throws {
        let (w, h) = size
        let (rw, rh) = Preprocessing.evalSize(width: w, height: h)
        #expect(rw >= 1 && rh >= 1, "\(w)×\(h) resized to \(rw)×\(rh)")
        let detector = try ModelPackage.load(Self.dir + "/checkpoint.pth")
        detector.threshold = 0
        let detections = try detector.detect(PreprocessingTests.pattern(w, h), prompts: ["a striped star"])
        #expect(!detections.isEmpty)
        for d in detections {
            #expect(d.score.isFinite && d.box.x0.isFinite && d.box.y1.isFinite, "\(w)×\(h): \(d)")
        }
    }

    @Test func badPromptsAndMismatchedTokenizersAreClearErrors() throws {
        let detector = try ModelPackage.load(Self.dir + "/checkpoint.pth")
        #expect(throws: DetectorError.emptyPrompt) { _ = try detector.encode("   ") }
        #expect {
            _ = try detector.encode(String(repeating: "striped star ", count: 40))
        } throws: { error in
            guard case let DetectorError.promptTooLong(tokens, limit) = error else { return false }
            return tokens > limit && limit == 38
        }
        // The tiny BPE vocabulary has more ids than this model's 100-token encoder.
        let small = try MDETRModel(config: try Fixtures.config("mdetr_resnet_roberta"),
                                   weights: try SafeTensors(path: Fixtures.path("mdetr_resnet_roberta/weights.safetensors")))
        let tokenizer = try ByteLevelBPETokenizer(vocabFile: Self.dir + "/vocab.json", mergesFile: Self.dir + "/merges.txt")
        #expect {
            _ = try MDETRDetector(model: small, tokenizer: tokenizer, identity: detector.identity, normalization: .imagenet)
        } throws: { if case DetectorError.tokenizerMismatch = $0 { return true } else { return false } }
        #expect(throws: DetectorError.modelNotFound(path: "/nonexistent.pth")) { _ = try ModelPackage.load("/nonexistent.pth") }
        // A setting overridden from the command line reaches the network (and here no longer fits the weights).
        #expect {
            _ = try ModelPackage.load(Self.dir + "/checkpoint.pth", options: .init(overrides: ["num_queries": "12"]))
        } throws: { error in
            guard case let WeightsError.keyMismatch(_, _, misshapen) = error else { return false }
            return misshapen.contains { $0.hasPrefix("query_embed.weight") }
        }
        #expect(throws: WeightsError.self) {
            _ = try ModelPackage.load(Self.dir + "/checkpoint.pth", options: .init(overrides: ["num_qeuries": "12"]))
        }
    }
}
