import Detector
import Foundation
import Pipeline
@testable import Stages
import Store
import Testing

/// `[query] template = "auto"` (the default) asks each model with the rule it was trained with; a configured
/// template wins over it.
@Suite struct VocabularyTemplateTests {
    @Test func autoFollowsTheModelAndAConfiguredTemplateWins() {
        let database = Database(url: "host=/nonexistent")
        var query = QuerySettings()
        #expect(query.template == "auto")
        let auto = VocabularyResolver(database: database, inboxes: [], query: query)
        #expect(auto.template(for: StubDetector(template: .nameAndDefinition)) == .nameAndDefinition)
        #expect(auto.template(for: StubDetector(template: .cleanName)) == .cleanName)
        query.template = "clean_name"
        let fixed = VocabularyResolver(database: database, inboxes: [], query: query)
        #expect(fixed.template(for: StubDetector(template: .nameAndDefinition)) == .cleanName)
        let categories = [VocabularyCategory(externalID: 1, name: "red_star", definition: "a star of red")]
        #expect(VocabularyResolver.prompts(categories, template: .nameAndDefinition).map(\.prompt) == ["red star: a star of red"])
    }
}
