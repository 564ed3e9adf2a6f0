import Detector
import Foundation

/// A detector double for stage tests: one box per question, labelled with what it was asked and its own name, and
/// a log of the calls it got.
final class StubDetector: ImageDetector, @unchecked Sendable {
    let identity: ModelIdentity
    var threshold: Float = 0.5
    let preferredTemplate: PromptTemplate
    private(set) var calls: [String] = []

    init(name: String = "stub", template: PromptTemplate = .cleanName) {
        identity = ModelIdentity(name: name, version: "1", weightsSHA256: String(repeating: "0", count: 64))
        preferredTemplate = template
    }

    private func box(_ label: String, _ prompt: String) -> Detection {
        Detection(box: Box(x0: 1, y0: 1, x1: 5, y1: 5), score: 0.9, label: "\(identity.name): \(label)", prompt: prompt)
    }

    func detect(_ image: RGBImage, prompts: [String]) throws -> [Detection] {
        calls.append("prompts")
        return prompts.map { box($0, $0) }
    }

    func detect(_ image: RGBImage, caption: String, phrases: [Range<Int>]) throws -> [Detection] {
        calls.append("caption")
        return [box(caption, caption)]
    }

    func detect(_ image: RGBImage, vocabulary query: VocabularyQuery, progress: ((Int, Int) -> Void)?) throws -> VocabularyAnswer {
        calls.append("vocabulary")
        return VocabularyAnswer(detections: [], passes: 1)
    }
}
