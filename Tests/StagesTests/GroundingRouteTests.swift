import Detector
import Foundation
@testable import Pipeline
@testable import Stages
@testable import Store
import Testing

/// With a grounding model beside the main one (`model.grounding_path`): a caption sidecar goes to the grounding model
/// and provenance names it; prompts stay with the main model; without one, the main model answers both.
@Suite struct GroundingRouteTests {
    func run(_ stage: DetectStage, queries: String?) throws -> DetectedImage {
        let job = ClaimedJob(jobID: 1, imageID: 1, attempt: 1, maxAttempts: 3, sha256: String(repeating: "a", count: 64), archivePath: "x.png",
                             format: "png", inbox: "in", originalName: "x.png", queries: queries)
        let image = DecodedImage(image: RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 0, count: 192)))
        guard case let .next(out) = try stage.run(image, WorkItem(job: job, owner: "test", archiveFile: "/dev/null")) else {
            throw CocoaError(.featureUnsupported)
        }
        return out
    }

    @Test func captionSidecarsGoToTheGroundingModel() throws {
        let main = StubDetector(name: "detclip"), grounding = StubDetector(name: "mdetr")
        let stage = DetectStage(slot: ModelSlot(main), groundingDetector: grounding, prompts: ["thing"])
        let caption = SidecarQueries(caption: "a red star left of a ring", spans: [[2, 10]]).json
        let answered = try run(stage, queries: caption)
        #expect(grounding.calls == ["caption"] && main.calls.isEmpty)
        #expect(answered.detections.map(\.label) == ["mdetr: a red star left of a ring"])
        #expect(answered.settings["caption_model"] == "mdetr@1")
        let prompted = try run(stage, queries: nil)
        #expect(main.calls == ["prompts"] && prompted.detections.map(\.label) == ["detclip: thing"])
        #expect(prompted.settings["caption_model"] == nil)

        let alone = StubDetector(name: "only")
        let single = try run(DetectStage(slot: ModelSlot(alone), prompts: ["thing"]), queries: caption)
        #expect(alone.calls == ["caption"] && single.settings["caption_model"] == "only@1")
    }
}
