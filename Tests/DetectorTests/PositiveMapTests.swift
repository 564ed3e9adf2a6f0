import Foundation
import Testing
@testable import Detector

@Suite struct PositiveMapTests {
    static func tokenizer() throws -> ByteLevelBPETokenizer {
        let dir = Fixtures.path("tokenizers")
        return try ByteLevelBPETokenizer(vocabFile: dir + "/tiny-bpe-vocab.json", mergesFile: dir + "/tiny-bpe-merges.txt")
    }

    @Test func spansMapToTheirTokensWithTheOfficialFallbacks() throws {
        let caption = "a cat on the  sofa"
        let encoding = try Self.tokenizer().encode(caption)
        let cat = 2..<5, sofa = 14..<18
        // A span starting on a space (no token) falls back to beg+1; one ending on a space to end−2.
        let spaceBefore = 12..<18, spaceAfter = 2..<6
        let ranges = PositiveMap.tokenRanges(encoding, spans: [cat, sofa, spaceBefore, spaceAfter])
        #expect(ranges.count == 4)
        #expect(ranges[0] == ranges[3], "a trailing space must not change the tokens of 'cat'")
        #expect(ranges[1].upperBound == ranges[2].upperBound)
        for r in ranges { for t in r { #expect(!encoding.offsets[t].isEmpty) } }
        // The text of the tokens is the phrase.
        let catText = ranges[0].map { encoding.substring(encoding.offsets[$0]) }.joined()
        #expect(catText == "cat")

        let map = PositiveMap.build(encoding, phrases: [[cat], [sofa], [0..<0]])
        #expect(map.shape == [3, 256])
        let rowSums = (0..<3).map { r in (0..<256).reduce(Float(0)) { $0 + map.data[r * 256 + $1] } }
        #expect(abs(rowSums[0] - 1) < 1e-5 && abs(rowSums[1] - 1) < 1e-5)
        #expect(rowSums[2] == 0, "an empty span maps to no token")
    }

    @Test func phraseScoresTakeTheBestTokenOfThePhrase() {
        var probabilities = Tensor(zeros: [2, 256])
        probabilities[0, 3] = 0.2; probabilities[0, 4] = 0.5; probabilities[0, 255] = 0.3
        probabilities[1, 7] = 0.9; probabilities[1, 255] = 0.1
        var map = Tensor(zeros: [2, 256])
        map[0, 3] = 0.5; map[0, 4] = 0.5
        map[1, 7] = 1
        let scores = PostProcess.phraseScores(probabilities, positiveMap: map)
        #expect(scores.shape == [2, 2])
        #expect(scores[0, 0] == 0.5 && scores[0, 1] == 0 && scores[1, 0] == 0 && scores[1, 1] == 0.9)
        #expect(PostProcess.scores(probabilities).map { ($0 * 10).rounded() / 10 } == [0.7, 0.9])
    }
}
