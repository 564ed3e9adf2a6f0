import Foundation
import Testing
@testable import Detector

@Suite struct VocabularyTests {
    /// Expected values printed by MDETR's own `clean_name` (three `re.sub`s) in Python.
    @Test func cleanNameMatchesTheOfficialRegexes() {
        let cases = [("bow_(weapon)", "bow "), ("aerosol_can", "aerosol can"), ("flip-flop_(sandal)", "flip-flop "),
                     ("Ping-Pong_ball", "Ping-Pong ball"), ("a__b___c", "a b  c"), ("cab_(taxi)_(car)", "cab "),
                     ("yoke_(animal_equipment)", "yoke "), ("teddy_bear", "teddy bear")]
        for (name, want) in cases { #expect(PromptTemplate.cleanName(name) == want, "\(name)") }
        #expect(PromptTemplate.nameAndDefinition.prompt(name: "bow_(weapon)", definition: "a weapon for shooting arrows")
                == "bow: a weapon for shooting arrows")
        #expect(PromptTemplate.custom("a photo of a {name}").prompt(name: "teddy_bear", definition: nil) == "a photo of a teddy bear")
    }

    @Test func mergeKeepsTheBestAndSuppressesWithinAClassOnly() {
        func d(_ c: Int, _ s: Float, _ x: Float) -> CategoryDetection {
            CategoryDetection(categoryID: c, prompt: "c\(c)", box: Box(x0: x, y0: 0, x1: x + 10, y1: 10), score: s)
        }
        let all = [d(1, 0.9, 0), d(1, 0.8, 1), d(2, 0.85, 1), d(1, 0.5, 50), d(2, 0.85, 60)]
        let top = MDETRDetector.merge(all, settings: MergeSettings(topN: 3))
        #expect(top.map(\.score) == [0.9, 0.85, 0.85])
        #expect(top[1].box.x0 == 1 && top[2].box.x0 == 60, "ties keep their order")
        let nms = MDETRDetector.merge(all, settings: MergeSettings(topN: 0, nmsIoU: 0.5))
        #expect(nms.count == 4, "the 0.8 box overlaps the 0.9 box of the same class; other classes are untouched")
        #expect(!nms.contains { $0.categoryID == 1 && $0.score == 0.8 })
    }

    @Test func vocabularyQueryingRunsTheBackboneOnceAndScoresEveryCategory() throws {
        let detector = try ModelPackage.load(Fixtures.path("mdetr_end_to_end/checkpoint.pth"))
        let vocabulary = [CategoryPrompt(categoryID: 7, prompt: "star"), CategoryPrompt(categoryID: 9, prompt: "red circle")]
        let image = PreprocessingTests.pattern(64, 48)
        let all = try detector.detect(image, vocabulary: vocabulary, settings: MergeSettings(topN: 0))
        #expect(all.count == 20, "10 queries per prompt")
        #expect(Set(all.map(\.categoryID)) == [7, 9])
        let top = try detector.detect(image, vocabulary: vocabulary, settings: MergeSettings(topN: 5))
        #expect(top == Array(all.prefix(5)))
    }

    /// Passes of several prompts (run side by side on the cores) give the prompt-at-a-time results, and pruning
    /// between passes keeps the same top N.
    @Test func promptPassesEqualOnePromptAtATime() throws {
        let detector = try ModelPackage.load(Fixtures.path("mdetr_end_to_end/checkpoint.pth"))
        let vocabulary = (0..<7).map { CategoryPrompt(categoryID: $0 + 1, prompt: ["star", "red circle", "a ring", "blue", "small square", "cross", "heart"][$0]) }
        let image = PreprocessingTests.pattern(64, 48)
        detector.promptsPerPass = 1
        let single = try detector.detect(image, vocabulary: vocabulary, settings: MergeSettings(topN: 0))
        let singleTop = try detector.detect(image, vocabulary: vocabulary, settings: MergeSettings(topN: 6))
        detector.promptsPerPass = 3
        let batched = try detector.detect(image, vocabulary: vocabulary, settings: MergeSettings(topN: 0))
        let batchedTop = try detector.detect(image, vocabulary: vocabulary, settings: MergeSettings(topN: 6))
        #expect(single.count == 70 && batched.count == 70)
        for (a, b) in zip(single, batched) {
            #expect(a.categoryID == b.categoryID && abs(a.score - b.score) < 1e-5 && abs(a.box.x0 - b.box.x0) < 1e-3)
        }
        #expect(singleTop.map(\.categoryID) == batchedTop.map(\.categoryID))
    }
}

