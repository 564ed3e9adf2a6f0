import Detector
import Foundation
import Testing
import Pipeline
import TestSupport
@testable import Stages

/// `packed_per_image` (issue 16): GLIP-style training records, several categories in one caption, so a model learns
/// to answer the captions `[query] strategy = "packed"` asks.
@Suite struct PackedRecordsTests {
    @Test func packedRecordsGroundEveryPositiveOnItsNameWithinTheBudget() throws {
        guard ProcessInfo.processInfo.environment["PIPELINED_LITE0_WEIGHTS"] != nil,
              ProcessInfo.processInfo.environment["PIPELINED_MINILM_DIR"] != nil else {
            Issue.record("PIPELINED_LITE0_WEIGHTS / PIPELINED_MINILM_DIR are not set: run the suite through tools/setup.sh test")
            return
        }
        let dir = TemporaryDirectory("packed-records")
        let names = ["bow_(weapon)", "teddy_bear", "crème_brûlée", "7-Up", "red star", "blue circle", "Ping-Pong_ball"]
            + (0..<30).map { "category number \($0)" }
        let categories = names.enumerated().map { ["id": $0.offset + 1, "name": $0.element, "frequency": "c"] as [String: Any] }
        let images: [[String: Any]] = (1...3).map { ["id": $0, "file_name": "i\($0).jpg", "width": 100, "height": 80, "neg_category_ids": [9, 10]] }
        // Image 1: categories 1 (two boxes) and 3; image 2: category 7; image 3: nothing.
        let annotations: [[String: Any]] = [[1, 1], [1, 1], [1, 3], [2, 7]].enumerated().map { i, pair in
            ["id": i + 1, "image_id": pair[0], "category_id": pair[1], "bbox": [10 + i, 10, 20, 20], "area": 400]
        }
        try JSONSerialization.data(withJSONObject: ["images": images, "categories": categories, "annotations": annotations])
            .write(to: URL(fileURLWithPath: dir.file("train.json")))
        try """
            [data]
            train = "train.json"
            images = "."
            negatives_per_image = 0
            packed_per_image = 2
            packed_tokens = 40
            """.write(toFile: dir.file("t.toml"), atomically: true, encoding: .utf8)
        let session = try TrainingSession(try TrainingConfig.load(dir.file("t.toml")), quiet: true)
        try session.loadData()
        let packed = session.records.filter { $0.caption.contains(". ") }
        #expect(packed.count == 4, "two per image with categories: \(session.records.map(\.caption))")
        let tokenizer = try WordPieceTokenizer(vocabFile: ProcessInfo.processInfo.environment["PIPELINED_MINILM_DIR"]! + "/vocab.txt")
        let clean = Dictionary(uniqueKeysWithValues: names.enumerated().map {
            ($0.offset + 1, PromptTemplate.cleanName($0.element).trimmingCharacters(in: .whitespaces))
        })
        for record in packed {
            #expect(tokenizer.encode(record.caption).ids.count <= 40, "\(record.caption)")
            let image = session.images[record.image].id
            let want = image == 1 ? [clean[1]!, clean[1]!, clean[3]!] : [clean[7]!]
            let scalars = Array(record.caption.unicodeScalars)
            let grounded = record.spans.map { String(String.UnicodeScalarView(scalars[$0[0]])) }
            #expect(grounded.sorted() == want.sorted(), "\(record.caption): \(grounded)")
            #expect(record.boxes.count == want.count)
            #expect(record.caption.components(separatedBy: ". ").count > want.count, "negatives fill the caption: \(record.caption)")
        }
        #expect(Set(packed.map(\.caption)).count == 4, "each record draws its own negatives and order")
    }
}

@Suite struct StrategyChoiceTests {
    /// `auto` (the default) asks by shortlist only a model that learned packed captions: one that never saw them
    /// loses nearly all its AP on packed passes (docs/detector.md).
    @Test func autoIsAShortlistOnlyForAModelTrainedWithPackedRecords() {
        var query = QuerySettings()
        #expect(query.strategy == "auto")
        query.shortlistK = 7
        #expect(VocabularyResolver.strategy("auto", query, answersPackedPrompts: true) == .shortlist(k: 7, minScore: nil))
        #expect(VocabularyResolver.strategy("auto", query, answersPackedPrompts: false) == .exact)
        #expect(VocabularyResolver.strategy("packed", query, answersPackedPrompts: false) == .packed(alsoAbove: nil))
    }
}
