import Detector
import Foundation
import Testing
import TestSupport
@testable import Stages

/// A trained model keeps the F1-best threshold of its validation images — unless they held too few labelled objects
/// to tell (a fine-tuning run's held-out labels): then its parent's, so a promotion does not swing what the daemon
/// stores on a guess.
@Suite struct ScoreThresholdChoiceTests {
    @Test func fewObjectsKeepTheParentsThreshold() throws {
        let dir = TemporaryDirectory("threshold-choice")
        let parent = dir.file("parent")
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        var manifest = ModelPackage.Manifest(name: "p", version: "1", config: MDETRConfig(backbone: "efficientnet_lite0", textEncoderType: "all-MiniLM-L6-v2", text: .miniLML6),
                                             normalization: .symmetric, tokenizerFiles: [],
                                             weightsSHA256: "", source: "", sourceSHA256: "", sourceStateDict: "")
        manifest.scoreThreshold = 0.33
        try ModelPackage.write(manifest, directory: parent)
        func session(initFrom: String?) throws -> TrainingSession {
            try "[data]\ntrain = \"train.json\"\n[model]\n\(initFrom.map { "init = \"\($0)\"" } ?? "")\n"
                .write(toFile: dir.file("t.toml"), atomically: true, encoding: .utf8)
            return try TrainingSession(try TrainingConfig.load(dir.file("t.toml")), quiet: true)
        }
        let tuned = try session(initFrom: parent)
        #expect(tuned.scoreThreshold(["F1_threshold": 0.8, "F1_objects": 12]) == 0.33)
        #expect(tuned.scoreThreshold(["F1_threshold": 0.8, "F1_objects": 50]) == 0.8)
        #expect(tuned.scoreThreshold([:]) == 0.33)
        let fresh = try session(initFrom: nil)
        #expect(fresh.scoreThreshold(["F1_threshold": 0.8, "F1_objects": 12]) == 0.8)
        #expect(fresh.scoreThreshold([:]) == nil)
    }
}
