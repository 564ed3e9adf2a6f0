import Foundation
import Testing
@testable import Detector

/// MDETR's objective and gradients against PyTorch (tools/make_training_fixtures.py): a small MDETR (ResNet with
/// frozen stem and layer1, BERT, 2+2 layers), a batch of two images, every loss term and every parameter's gradient.
@Suite struct TrainingParityTests {
    struct Fixture: Decodable {
        struct Target: Decodable { var boxes: [[Float]]; var tokens: [[Int]] }
        var config: MDETRConfig
        var ids: [[Int]]
        var targets: [Target]
        var terms: [String: Float]
        var trajectory: [Float]
        var grad_scale: Float
    }

    static func load() throws -> (Fixture, TrainableMDETR, [(Tensor, [Int], MDETRCriterion.Target)]) {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("mdetr_training/fixture.json"))))
        let model = try TrainableMDETR(config: fixture.config, weights: try SafeTensors(path: Fixtures.path("mdetr_training/weights.safetensors")))
        let inputs = try SafeTensors(path: Fixtures.path("mdetr_training/inputs.safetensors"))
        let batch = try fixture.targets.enumerated().map { (i, t) -> (Tensor, [Int], MDETRCriterion.Target) in
            var map = Tensor(zeros: [t.tokens.count, 256])
            for (j, tokens) in t.tokens.enumerated() { for k in tokens { map.data[j * 256 + k] = 1 } }
            return (try inputs.tensor("image\(i)"), fixture.ids[i], MDETRCriterion.Target(boxes: t.boxes, positiveMap: map))
        }
        return (fixture, model, batch)
    }

    @Test func lossTermsAndEveryGradientMatchPyTorch() throws {
        let (fixture, model, batch) = try Self.load()
        let outputs = batch.map { (image, ids, target) in (model.forward(features: model.resnet(image), ids: ids), target) }
        let (total, terms) = MDETRCriterion().loss(outputs)
        #expect(Set(terms.keys) == Set(fixture.terms.keys), "\(terms.keys.sorted()) vs \(fixture.terms.keys.sorted())")
        for (name, want) in fixture.terms {
            let got = terms[name] ?? .nan
            #expect(abs(got - want) <= 1e-4 * max(1, abs(want)), "\(name): \(got) vs PyTorch \(want)")
        }
        total.backward()
        let reference = try SafeTensors(path: Fixtures.path("mdetr_training/gradients.safetensors"))
        let trained = model.trainableParameters.filter { $0.1.grad != nil }
        #expect(trained.count == reference.keys.count && trained.count > 100, "\(trained.count) gradients")
        #expect(abs((terms["loss"] ?? 0) - 49.05225) < 1e-3)
        #expect(Set(trained.map(\.0)) == Set(reference.keys), "parameters with gradients differ: \(Set(trained.map(\.0)).symmetricDifference(reference.keys))")
        // Tolerance relative to the gradient scale, as the issue states it.
        let tolerance = 1e-4 * fixture.grad_scale
        for (name, parameter) in trained where reference.keys.contains(name) {
            expectClose(parameter.grad!, try reference.tensor(name), tolerance: tolerance, "∂loss/∂\(name)")
        }
        // Frozen parts (ResNet stem, layer1, batch norms) get no gradient.
        #expect(model.parameters["backbone.0.body.conv1.weight"]?.grad == nil)
        #expect(model.parameters["backbone.0.body.layer1.0.conv1.weight"]?.grad == nil)
        #expect(model.parameters["backbone.0.body.layer2.0.bn1.weight"]?.requiresGrad == false)
    }

    /// Ten AdamW steps on the same batch (MDETR's groups and rates, weight decay 1e-4, clipping at 0.1): the loss
    /// before each step follows PyTorch's.
    @Test func tenStepLossTrajectoryMatchesPyTorch() throws {
        let (fixture, model, batch) = try Self.load()
        let optimizer = AdamW(groups: AdamW.mdetrGroups(model.trainableParameters), weightDecay: 1e-4)
        var losses: [Float] = []
        for _ in 0..<10 {
            let outputs = batch.map { (image, ids, target) in (model.forward(features: model.resnet(image), ids: ids), target) }
            let (total, _) = MDETRCriterion().loss(outputs)
            losses.append(total.value.data[0])
            total.backward()
            optimizer.clipGradients(maxNorm: 0.1)
            optimizer.update()
        }
        for (step, (got, want)) in zip(losses, fixture.trajectory).enumerated() {
            #expect(abs(got - want) <= 1e-3 * abs(want), "step \(step): \(got) vs PyTorch \(want)")
        }
        #expect(losses.last! < losses.first! - 5, "the loss falls: \(losses)")
    }
}
