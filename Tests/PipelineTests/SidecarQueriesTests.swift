import Foundation
import Pipeline
import Testing

@Suite struct SidecarQueriesTests {
    func parse(_ text: String) throws -> SidecarQueries { try SidecarQueries.parse(Data(text.utf8)) }

    @Test func acceptedForms() throws {
        let spans = try parse(#"{"caption": "a red star left of a blue ring", "phrases": [[2, 10], [21, 30]]}"#)
        #expect(spans.caption == "a red star left of a blue ring" && spans.ranges == [2..<10, 21..<30] && !spans.vocabulary)
        #expect(spans.phraseTexts == ["red star", "blue ring"])
        let list = try parse(#"{"phrases": ["red star", "blue ring"], "vocabulary": true}"#)
        #expect(list.phrases == ["red star", "blue ring"] && list.vocabulary && list.caption == nil)
        #expect(try parse(#"["a cat"]"#).phrases == ["a cat"])
        #expect(try parse(#"{"vocabulary": true}"#).vocabulary)
        // Spans count code points, as Python's str (MDETR's tokens_positive) does.
        let accented = try parse(#"{"caption": "un café rouge", "phrases": [[3, 7]]}"#)
        #expect(accented.phraseTexts == ["café"])
        // The stored form reads back.
        #expect(SidecarQueries.decode(stored: spans.json) == spans)
    }

    @Test func malformedSidecarsSayWhy() {
        let cases: [(String, String)] = [
            ("not json", "not JSON"),
            ("42", "expected an object"),
            (#"{"caption": "a cat"}"#, "needs 'phrases'"),
            (#"{"caption": "a cat", "phrases": [[0, 9]]}"#, "outside the caption"),
            (#"{"caption": "a cat", "phrases": [[3, 3]]}"#, "empty or outside"),
            (#"{"caption": "a cat", "phrases": [["a", 2]]}"#, "pair of integers"),
            (#"{"caption": "a cat", "phrases": [[0.5, 2]]}"#, "pair of integers"),
            (#"{"caption": "", "phrases": [[0, 1]]}"#, "'caption' must be"),
            (#"{"phrases": []}"#, "1…64 phrases"),
            (#"{"phrases": ["ok", ""]}"#, "phrase 1 must be"),
            (#"{"phrases": ["ok"], "vocabulary": "yes"}"#, "true or false"),
            (#"{"phrase": ["ok"]}"#, "unknown key 'phrase'"),
            ("{}", "nothing to ask"),
            (#"["a\u0000b"]"#, "NUL"),
            (#"{"caption": "a\u0000", "phrases": [[0, 1]]}"#, "NUL"),
            (#"{"caption": "a cat", "phrases": [[0, 1e300]]}"#, "pair of integers"),
        ]
        for (text, reason) in cases {
            #expect(throws: SidecarQueries.Failure.self, "\(text)") { try parse(text) }
            do { _ = try parse(text) } catch { #expect("\(error)".contains(reason), "\(text): \(error)") }
        }
        #expect(throws: SidecarQueries.Failure.self) { try SidecarQueries.parse(Data(repeating: 32, count: 70_000)) }
    }
}
