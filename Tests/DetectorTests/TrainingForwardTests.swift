import Foundation
import Testing
@testable import Detector

/// The training graph (`TrainableMDETR`) and the inference network (`MDETRModel`) on the same weights give the same
/// outputs: every head of the last decoder layer and both contrastive projections. Training runs a frozen
/// EfficientNet or Lite0 backbone through the inference code (its features are cached), so for those the backbone is
/// shared and the transformer, text encoder and heads are what is compared; a ResNet is compared too.
@Suite struct TrainingForwardTests {
    static let defaultModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/pipelined/DefaultModel/grounding").standardized.path

    static func weights(_ name: String) throws -> (MDETRConfig, any WeightSource, Tensor) {
        if name == "default-lite0" {
            let manifest = try ModelPackage.manifest(directory: defaultModel)
            var rng = SplitMix64(seed: 7)
            let image = Tensor(shape: [3, 320, 416], data: (0..<(3 * 320 * 416)).map { _ in Float(rng.uniform(-1, 1)) })
            return (manifest.config, try ModelPackage.weights(directory: defaultModel, manifest: manifest), image)
        }
        return (try Fixtures.config(name), try SafeTensors(path: Fixtures.path("\(name)/weights.safetensors")),
                try Fixtures.io(name).tensor("image"))
    }

    @Test(arguments: ["mdetr_resnet_roberta", "mdetr_effnet_roberta", "default-lite0"])
    func trainingAndInferenceForwardsAgree(_ name: String) throws {
        let (config, weights, image) = try Self.weights(name)
        let model = try MDETRModel(config: config, weights: weights)
        let trainable = try TrainableMDETR(config: config, weights: weights)
        let ids = config.text.family == .roberta ? [0, 31, 7, 55, 12, 2] : [101, 2417, 4937, 1012, 102]

        let features = model.backbone(image)                                              // (C, h, w)
        let trainingFeatures: Variable
        if config.backbone.hasPrefix("resnet") {
            trainingFeatures = trainable.resnet(image)
            expectClose(trainingFeatures.value, features, tolerance: 1e-5, "\(name) backbone")
        } else {
            trainingFeatures = Variable(features)
        }
        let inference = model.forward(image: model.encodeImage(image), text: model.encodeText(ids))
        let training = trainable.forward(features: trainingFeatures, ids: ids)
        let last = try #require(training.layers.last)
        expectClose(last.logits.value, inference.logits, tolerance: 1e-5, "\(name) logits")
        expectClose(last.boxes.value, inference.boxes, tolerance: 1e-5, "\(name) boxes")
        expectClose(try #require(last.projectedQueries).value, try #require(inference.projectedQueries), tolerance: 1e-5, "\(name) queries")
        expectClose(try #require(training.projectedTokens).value, try #require(inference.projectedTokens), tolerance: 1e-5, "\(name) tokens")
    }

    /// A checkpoint with a missing, an unexpected and a mis-shaped key is refused by the training loader in one error
    /// naming all three (before, a missing key was a `preconditionFailure` at the first forward).
    @Test(arguments: ["mdetr_resnet_roberta", "mdetr_effnet_roberta"])
    func trainingLoaderReportsEveryBadKeyAtOnce(_ name: String) throws {
        let (config, weights, _) = try Self.weights(name)
        var pairs = try weights.keys.map { ($0, try weights.tensor($0)) }
        pairs.removeAll { $0.0 == "class_embed.bias" }
        pairs.append(("transformer.extra.weight", Tensor(zeros: [2])))
        let index = try #require(pairs.firstIndex { $0.0 == "query_embed.weight" })
        pairs[index].1 = Tensor(zeros: [3, 5])
        do {
            _ = try TrainableMDETR(config: config, weights: InMemoryWeights(pairs))
            Issue.record("a damaged checkpoint was accepted")
        } catch let WeightsError.keyMismatch(missing, unexpected, misshapen) {
            #expect(missing == ["class_embed.bias"])
            #expect(unexpected == ["transformer.extra.weight"])
            #expect(misshapen.count == 1 && misshapen[0].hasPrefix("query_embed.weight"), "\(misshapen)")
        }
    }

    /// Fresh weights come from the network's own definition: with the pretrained parts beside them they are exactly
    /// the keys the strict loader wants, initialised by the official rules.
    @Test func freshWeightsAreWhatTheDefinitionAsksFor() throws {
        let (config, pretrained, _) = try Self.weights("mdetr_effnet_roberta")
        let fresh = TrainableMDETR.freshWeights(config: config, backboneChannels: 80, seed: 3)
        let textKeys = try pretrained.keys.filter { $0.hasPrefix("transformer.text_encoder.") }.map { ($0, try pretrained.tensor($0)) }
        let model = try TrainableMDETR(config: config, weights: InMemoryWeights(fresh + textKeys))
        let byKey = Dictionary(uniqueKeysWithValues: fresh)
        #expect(byKey.keys.allSatisfy { !$0.hasPrefix("backbone.") && !$0.hasPrefix("transformer.text_encoder.") })
        #expect(byKey["transformer.decoder.layers.1.norm3.weight"]?.data.allSatisfy { $0 == 1 } == true)
        #expect(byKey["transformer.encoder.layers.0.self_attn.in_proj_bias"]?.data.allSatisfy { $0 == 0 } == true)
        let inProj = try #require(byKey["transformer.encoder.layers.0.self_attn.in_proj_weight"])   // Xavier: ±√(6/(96+32))
        #expect(inProj.data.allSatisfy { abs($0) <= (6 / Float(96 + 32)).squareRoot() } && inProj.data.contains { $0 != 0 })
        #expect(byKey["input_proj.weight"]?.shape == [32, 80, 1, 1])
        #expect(model.trainableParameters.count == fresh.count + textKeys.count)
    }
}
