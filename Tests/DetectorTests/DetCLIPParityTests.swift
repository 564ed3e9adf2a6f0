import Foundation
import Testing
@testable import Detector

/// DetCLIPv2's network (pyramid, region head with its deformable convolution, concept projection, scores) against
/// the PyTorch reference (`tools/detclip_reference.py`, computed in float64) on random weights and features whose
/// sizes do not halve exactly: the inference forward (`Tensor`) and the training forward (`Variable`) within 1e-4,
/// and the training backward's gradients against PyTorch's.
@Suite struct DetCLIPParityTests {
    static let config: DetCLIPConfig = {
        var text = TextEncoderConfig.miniLML6
        text.hidden = 24
        var c = DetCLIPConfig(backbone: "none", textEncoderType: "test", text: text, backboneChannels: [16, 24, 32])
        (c.channels, c.levels, c.stackedConvs, c.groupNormGroups, c.alignDim) = (32, 5, 2, 8, 16)
        return c
    }()

    static func load() throws -> (SafeTensors, SafeTensors) {
        (try SafeTensors(path: Fixtures.path("detclip/weights.safetensors")), try Fixtures.io("detclip"))
    }

    /// Builds the network over `Value` and runs it: the levels, the concepts and the logits of every region.
    func run<Value: NetworkValue>(_ network: DetCLIPNetwork<Value>, _ io: SafeTensors, _ make: (Tensor) -> Value) throws
        -> (levels: [RegionHead<Value>.Level], concepts: Value, logits: Value) {
        let levels = network.levels(try ["c3", "c4", "c5"].map { make(try io.tensor($0)) })
        let concepts = network.concepts(make(try io.tensor("pooled")))
        let logits = network.logits(regions: Value.concat(rows: levels.map(\.regions)), concepts: concepts)
        return (levels, concepts, logits)
    }

    func compare<Value: NetworkValue>(_ out: (levels: [RegionHead<Value>.Level], concepts: Value, logits: Value), _ io: SafeTensors,
                                      _ what: String) throws {
        for (l, level) in out.levels.enumerated() {
            expectClose(level.regions.tensor, try io.tensor("regions.\(l)"), "\(what) regions P\(l + 3)")
            expectClose(level.distances.tensor, try io.tensor("distances.\(l)"), "\(what) distances P\(l + 3)")
            expectClose(level.centerness.tensor, try io.tensor("centerness.\(l)"), "\(what) centerness P\(l + 3)")
        }
        expectClose(out.concepts.tensor, try io.tensor("concepts"), "\(what) concepts")
        expectClose(out.logits.tensor, try io.tensor("logits"), "\(what) logits")
    }

    @Test func inferenceForwardMatchesPyTorch() throws {
        let (weights, io) = try Self.load()
        let loader = WeightLoader(source: weights)
        let network = DetCLIPNetwork<Tensor>(weights: Parameters(loader.root), config: Self.config)
        try loader.finish()
        try compare(try run(network, io) { $0 }, io, "inference")
    }

    @Test func trainingForwardAndGradientsMatchPyTorch() throws {
        let (weights, io) = try Self.load()
        let loader = WeightLoader(source: weights)
        let registry = ParameterRegistry { _ in true }
        let network = DetCLIPNetwork<Variable>(weights: Parameters(loader.root, registry: registry), config: Self.config)
        try loader.finish()
        var c3: Variable?
        let out = try run(network, io) { tensor in
            let v = Variable(tensor, requiresGrad: c3 == nil)
            if c3 == nil { c3 = v }
            return v
        }
        try compare(out, io, "training")
        // The fixture's loss: Σ output ⊙ a fixed random weight over every output.
        var terms = [out.logits * Variable(try io.tensor("loss_weight.logits"))]
        for (l, level) in out.levels.enumerated() {
            terms.append(level.regions * Variable(try io.tensor("loss_weight.regions.\(l)")))
            terms.append(level.distances * Variable(try io.tensor("loss_weight.distances.\(l)")))
            terms.append(level.centerness * Variable(try io.tensor("loss_weight.centerness.\(l)")))
        }
        let loss = Variable.sum(terms.map { $0.sum() })
        #expect(abs(loss.value.data[0] - (try io.tensor("loss")).data[0]) < 1e-2, "loss \(loss.value.data[0])")
        loss.backward()
        let kept = io.keys.filter { $0.hasPrefix("grad.") }
        #expect(kept.count >= 15)
        for key in kept {
            let name = String(key.dropFirst(5))
            let grad = name == "c3" ? c3?.grad : registry.parameters[name]?.grad
            let want = try io.tensor(key)
            guard let grad else { Issue.record("no gradient reached \(name)"); continue }
            // Gradients sum thousands of float32 products: compared relative to their own size.
            let scale = max(1, want.data.map(abs).max() ?? 1)
            expectClose(grad, want, tolerance: 2e-4 * scale, "gradient of \(name)")
        }
    }

    /// The concept encoder's pooling against sentence-transformers' (the mean of MiniLM's last hidden states over every
    /// token), on the real MiniLM weights — `tools/detclip_reference.py` with PIPELINED_MINILM_DIR.
    @Test func conceptsArePooledAsSentenceTransformersPoolsThem() throws {
        let minilm = try #require(ProcessInfo.processInfo.environment["PIPELINED_MINILM_DIR"], "PIPELINED_MINILM_DIR is set by tools/setup.sh test")
        let loader = WeightLoader(source: try SafeTensors(path: minilm + "/model.safetensors"))
        let encoder = ConceptEncoder(encoder: TextEncoder(config: .miniLML6, weights: Parameters(loader.root)),
                                     tokenizer: try WordPieceTokenizer(vocabFile: minilm + "/vocab.txt"))
        let texts = ["red star: a star-shaped figure of a single red color", "cat", "Ping-Pong ball", "a very small striped green ring"]
        let want = try SafeTensors(path: Fixtures.path("detclip_concepts/pooled.safetensors")).tensor("pooled")
        expectClose(encoder.pooled(texts), want, "pooled concepts")
        // Cached: the same rows again, in any order.
        expectClose(encoder.pooled(texts.reversed()), Tensor(shape: want.shape, data: (0..<4).reversed().flatMap { Array(want.data[($0 * 384)..<(($0 + 1) * 384)]) }),
                    "pooled concepts from the cache")
    }
}
