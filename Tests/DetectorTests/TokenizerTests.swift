import Foundation
import Testing
@testable import Detector

/// Ids and offsets against HuggingFace's fast tokenizers (tools/make_tokenizer_fixtures.py).
@Suite struct TokenizerTests {
    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let offsets: [[Int]]
    }

    static let expected: [String: [Case]] = {
        let url = Fixtures.root.appendingPathComponent("tokenizers/expected.json")
        return try! JSONDecoder().decode([String: [Case]].self, from: Data(contentsOf: url))
    }()

    func check(_ tokenizer: any Tokenizer, _ cases: [Case], _ family: String) {
        var failures = 0
        for c in cases {
            let got = tokenizer.encode(c.text)
            let offsets = got.offsets.map { [$0.lowerBound, $0.upperBound] }
            if got.ids != c.ids || offsets != c.offsets {
                failures += 1
                if failures <= 5 {
                    Issue.record("""
                        \(family) '\(c.text)':
                          ids     \(got.ids)
                          want    \(c.ids)
                          offsets \(offsets)
                          want    \(c.offsets)
                        """)
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(cases.count) \(family) strings differ")
    }

    @Test func byteLevelBPEMatchesRobertaTokenizerFast() throws {
        let dir = Fixtures.path("tokenizers")
        let tokenizer = try ByteLevelBPETokenizer(vocabFile: dir + "/tiny-bpe-vocab.json", mergesFile: dir + "/tiny-bpe-merges.txt")
        check(tokenizer, Self.expected["roberta"]!, "roberta")
    }

    @Test func wordPieceMatchesBertTokenizerFastWithMiniLMsVocabulary() throws {
        let dir = try #require(ProcessInfo.processInfo.environment["PIPELINED_MINILM_DIR"],
                               "PIPELINED_MINILM_DIR is set by tools/setup.sh test")
        let tokenizer = try WordPieceTokenizer(vocabFile: dir + "/vocab.txt")
        #expect(tokenizer.encode("A photo of a cat.").ids == [101, 1037, 6302, 1997, 1037, 4937, 1012, 102])
        check(tokenizer, Self.expected["bert"]!, "bert")
    }

    @Test func missingAndForeignTokenizerFilesAreClearErrors() {
        #expect(throws: TokenizerError.missingFile("/nonexistent/vocab.json")) {
            _ = try ByteLevelBPETokenizer(vocabFile: "/nonexistent/vocab.json", mergesFile: "/nonexistent/merges.txt")
        }
        // A BERT vocabulary handed to the RoBERTa tokenizer (and the other way round) is named as the wrong kind.
        let bpeVocab = Fixtures.path("tokenizers/tiny-bpe-vocab.json")
        #expect(throws: TokenizerError.self) { _ = try WordPieceTokenizer(vocabFile: bpeVocab) }
    }
}
