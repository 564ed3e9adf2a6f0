import Detector
import Foundation
import Pipeline
@testable import Stages
import Store
import Testing

/// `[query] template = "auto"` (the default) asks each model with the rule it was trained with; a configured
/// template wins over it.
@Suite struct VocabularyTemplateTests {
    final class Stub: ImageDetector, @unchecked Sendable {
        let identity = ModelIdentity(name: "stub", version: "1", weightsSHA256: "")
        var threshold: Float = 0.5
        let preferredTemplate: PromptTemplate
        init(_ template: PromptTemplate) { preferredTemplate = template }
        func detect(_ image: RGBImage, prompts: [String]) throws -> [Detection] { [] }
        func detect(_ image: RGBImage, caption: String, phrases: [Range<Int>]) throws -> [Detection] { [] }
        func detect(_ image: RGBImage, vocabulary query: VocabularyQuery, progress: ((Int, Int) -> Void)?) throws -> VocabularyAnswer {
            VocabularyAnswer(detections: [], passes: 0)
        }
    }

    @Test func autoFollowsTheModelAndAConfiguredTemplateWins() {
        let database = Database(url: "host=/nonexistent")
        var query = QuerySettings()
        #expect(query.template == "auto")
        let auto = VocabularyResolver(database: database, inboxes: [], query: query)
        #expect(auto.template(for: Stub(.nameAndDefinition)) == .nameAndDefinition)
        #expect(auto.template(for: Stub(.cleanName)) == .cleanName)
        query.template = "clean_name"
        let fixed = VocabularyResolver(database: database, inboxes: [], query: query)
        #expect(fixed.template(for: Stub(.nameAndDefinition)) == .cleanName)
        let categories = [VocabularyCategory(externalID: 1, name: "red_star", definition: "a star of red")]
        #expect(VocabularyResolver.prompts(categories, template: .nameAndDefinition).map(\.prompt) == ["red star: a star of red"])
    }
}
