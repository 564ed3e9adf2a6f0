import Foundation
import Testing
@testable import Detector

/// DetCLIPv2's training against the PyTorch reference (`tools/detclip_reference.py`): ten AdamW steps alternating a
/// detection batch (ATSS assignment, focal alignment, GIoU, centerness) and an image–text batch (proposal selection,
/// word-region contrastive loss) give the same losses — which needs AdamW's bias correction per parameter, as PyTorch
/// counts it (the box head gets no gradient in image–text steps); and ATSS's choices on cases worked by hand.
@Suite struct DetCLIPTrainingTests {
    @Test func tenStepTrajectoryMatchesPyTorch() throws {
        let io = try Fixtures.io("detclip_training")
        let model = try TrainableDetCLIP(config: DetCLIPParityTests.config,
                                         weights: SafeTensors(path: Fixtures.path("detclip_training/weights.safetensors")))
        let trainer = DetCLIPTrainer(model: model, learningRate: 1e-3, weightDecay: 1e-4, emaDecay: nil)
        func image(_ k: Int) throws -> [Tensor] { try ["c3", "c4", "c5"].map { try io.tensor("image\(k).\($0)") } }
        let detection = [
            DetCLIPTrainer.Example(features: try image(0), target: .init(boxes: [[10, 20, 90, 70], [100, 40, 200, 150]], concepts: [0, 2])),
            DetCLIPTrainer.Example(features: try image(1), target: .init(boxes: [[30, 30, 60, 100], [5, 80, 120, 125]], concepts: [1, 0])),
        ]
        let captions = [DetCLIPTrainer.CaptionExample(features: try image(0), phrases: 0..<2),
                        DetCLIPTrainer.CaptionExample(features: try image(1), phrases: 2..<4),
                        DetCLIPTrainer.CaptionExample(features: try image(2), phrases: 4..<5)]
        let (concepts, phrases) = (try io.tensor("concepts"), try io.tensor("phrases"))
        let want = try io.tensor("losses").data
        var got: [Float] = []
        for step in 0..<want.count {
            if step % 2 == 0 {
                let (terms, _) = trainer.step(detection, concepts: concepts)
                got.append(terms["align"]! + (terms["reg"] ?? 0) + (terms["center"] ?? 0))
                #expect((terms["positives"] ?? 0) >= 4, "ATSS found \(terms["positives"] ?? 0) positives")
            } else {
                got.append(try #require(trainer.alignmentStep(captions, phrases: phrases)))
            }
        }
        for (step, (g, w)) in zip(got, want).enumerated() {
            // Measured: within 2e-5 relative (float32 against the reference's float64).
            #expect(abs(g - w) <= 1e-4 * max(0.1, abs(w)), "step \(step): \(g) vs PyTorch \(w)")
        }
    }

    /// Fresh weights are made from the definition itself: every key the network asks for, accepted by the strict
    /// loader, with ATSS's and DetCLIPv2's starting values.
    @Test func freshWeightsFitTheNetwork() throws {
        let fresh = TrainableDetCLIP.freshWeights(config: DetCLIPParityTests.config, seed: 1)
        let model = try TrainableDetCLIP(config: DetCLIPParityTests.config, weights: InMemoryWeights(fresh))
        #expect(Set(fresh.map(\.0)) == Set(model.parameters.keys) && fresh.count == model.parameters.count)
        let byKey = Dictionary(uniqueKeysWithValues: fresh)
        #expect(byKey["bbox_head.offset_conv.weight"]?.data.allSatisfy { $0 == 0 } == true)
        #expect(byKey["bbox_head.cls_convs.0.gn.weight"]?.data.allSatisfy { $0 == 1 } == true)
        #expect(abs((byKey["logit_bias"]?.data[0] ?? 0) + 4.595) < 1e-3)
    }

    /// A manifest's shape that the network cannot take is refused with the reason, not trapped on.
    @Test func impossibleShapesAreRefused() throws {
        var odd = DetCLIPParityTests.config
        odd.channels = 30   // not a multiple of its 8 GroupNorm groups
        var levels = DetCLIPParityTests.config
        levels.levels = 9
        var backbone = DetCLIPParityTests.config
        backbone.backboneChannels = [16, 24]
        for config in [odd, levels, backbone] {
            #expect(throws: WeightsError.self) { _ = try TrainableDetCLIP(config: config, weights: InMemoryWeights([])) }
        }
    }

    /// ATSS on one level worked by hand: a box covering a 3×3 block of cells takes the cells whose anchors overlap it
    /// best; a second box over the same cells takes the ones it overlaps more; a box too small for any anchor still
    /// gets the location inside it.
    @Test func assignmentFollowsATSS() {
        let locations = ATSSAssigner.locations(sizes: [(height: 6, width: 6)], strides: [8])
        var assigner = ATSSAssigner()
        assigner.anchorScale = 2    // anchors of 16 pixels on 8-pixel cells
        let owner = assigner.assign(locations, levels: [0..<36], boxes: [[8, 8, 32, 32]])
        let positives = owner.indices.filter { owner[$0] == 0 }
        // Cells (1…3, 1…3) have centres inside; the centre cell's anchor matches the box best.
        #expect(positives.contains(2 * 6 + 2))
        #expect(positives.allSatisfy { [1, 2, 3].contains($0 / 6) && [1, 2, 3].contains($0 % 6) })
        let tiny = assigner.assign(locations, levels: [0..<36], boxes: [[17, 17, 23, 23]])
        #expect(tiny.indices.filter { tiny[$0] == 0 } == [2 * 6 + 2])
        let two = assigner.assign(locations, levels: [0..<36], boxes: [[8, 8, 32, 32], [16, 16, 24, 24]])
        #expect(two[2 * 6 + 2] == 0, "the centre cell's anchor (16 px) overlaps the 24 px box more than the 8 px one")
        #expect(ATSSAssigner.centerness([1, 1, 1, 1]) == 1 && abs(ATSSAssigner.centerness([1, 2, 3, 2]) - (1.0 / 3).squareRoot()) < 1e-6)
    }
}
