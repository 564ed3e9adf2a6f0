import Foundation
import Testing
@testable import Detector

/// Packed prompts and shortlists (issue 16): what packing keeps, how packed captions are scored, and that a shortlist
/// as long as the vocabulary is the exact protocol.
@Suite struct PackingTests {
    /// The real LVIS v1 vocabulary (1,203 categories) as MDETR asks it (`clean_name`).
    static func lvis() throws -> [CategoryPrompt] {
        struct File: Decodable { struct Category: Decodable { var id: Int; var name: String }; var categories: [Category] }
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("lvis_v1_categories.json"))))
        return file.categories.map { CategoryPrompt(categoryID: $0.id, prompt: PromptTemplate.cleanName($0.name)) }
    }

    static let awkward = ["bow_(weapon)", "Ping-Pong_ball", "7-Up", "crème brûlée", "naïve_façade", "R2-D2", "x", "🐈‍⬛ cat",
                          "猫", "a  b", "Dr. Pepper", "C++", "100 m race", "tape_(sticky_cloth_or_paper)", "teddy_bear",
                          "\u{7}"]   // a control character: WordPiece drops it, so it has no token in a packed caption
        .enumerated().map { CategoryPrompt(categoryID: 5000 + $0.offset, prompt: PromptTemplate.cleanName($0.element)) }

    static func tokenizers() throws -> [(String, any Tokenizer)] {
        let dir = Fixtures.path("tokenizers")
        var out: [(String, any Tokenizer)] = [("tiny BPE", try ByteLevelBPETokenizer(vocabFile: dir + "/tiny-bpe-vocab.json",
                                                                                       mergesFile: dir + "/tiny-bpe-merges.txt"))]
        let minilm = try #require(ProcessInfo.processInfo.environment["PIPELINED_MINILM_DIR"],
                                  "PIPELINED_MINILM_DIR names MiniLM-L6's directory (tools/setup.sh test installs it)")
        out.append(("MiniLM WordPiece", try WordPieceTokenizer(vocabFile: minilm + "/vocab.txt")))
        return out
    }

    /// Every category lands in exactly one caption, whole, in vocabulary order; its span is its text and its tokens
    /// cover exactly that text; captions stay within the limit; the same vocabulary packs the same way twice.
    @Test(arguments: [255, 40])
    func packingNeverDropsDuplicatesOrSplitsACategory(maxTokens: Int) throws {
        let vocabulary = try Self.lvis() + Self.awkward
        for (name, tokenizer) in try Self.tokenizers() {
            let packs = try PromptPacker.pack(vocabulary, tokenizer: tokenizer, maxTokens: maxTokens)
            #expect(packs.flatMap(\.members).sorted() == Array(vocabulary.indices), "\(name): every category once")
            #expect(packs.filter { !$0.solo }.flatMap(\.members) == packs.filter { !$0.solo }.flatMap(\.members).sorted(),
                    "\(name): captions keep the vocabulary's order")
            #expect(try PromptPacker.pack(vocabulary, tokenizer: tokenizer, maxTokens: maxTokens) == packs, "\(name): deterministic")
            for pack in packs {
                #expect(pack.tokenCount <= maxTokens)
                let encoding = tokenizer.encode(pack.caption)
                #expect(encoding.ids.count == pack.tokenCount)
                #expect(pack.categories == pack.members.map { vocabulary[$0] })
                if pack.solo {
                    #expect(pack.members.count == 1 && pack.caption == vocabulary[pack.members[0]].prompt)
                    continue
                }
                var previousEnd = 0
                for (j, category) in pack.categories.enumerated() {
                    let text = category.prompt.trimmingCharacters(in: .whitespacesAndNewlines)
                    #expect(encoding.substring(pack.spans[j]) == text, "\(name): span of \(category.prompt)")
                    let tokens = pack.tokens[j]
                    #expect(tokens.lowerBound >= previousEnd, "\(name): token ranges do not overlap")
                    previousEnd = tokens.upperBound + 1
                    let covered = encoding.offsets[tokens.lowerBound].lowerBound..<encoding.offsets[tokens.upperBound].upperBound
                    #expect(covered.lowerBound == pack.spans[j].lowerBound && covered.upperBound >= pack.spans[j].upperBound
                            && covered.upperBound <= pack.spans[j].upperBound + 1,
                            "\(name): tokens of '\(text)' cover '\(encoding.substring(covered))'")
                }
            }
            let lvisPacks = packs.filter { $0.members.allSatisfy { $0 < 1203 } }
            print("\(name), ≤ \(maxTokens) tokens: LVIS's 1,203 categories in \(lvisPacks.count) captions "
                  + "(\(String(format: "%.1f", 1203 / Double(lvisPacks.count))) per caption); solo: \(packs.filter(\.solo).count)")
            if maxTokens == 255 { #expect(lvisPacks.count <= 40, "\(name): \(lvisPacks.count) captions for LVIS") }
            if name.hasPrefix("MiniLM") {
                #expect(packs.filter(\.solo).map { vocabulary[$0.members[0]].prompt } == ["\u{7}"], "the control character is asked alone")
            }
        }
    }

    @Test func aCategoryWithoutTokensIsAskedAloneAndAnEmptyOneIsRefused() throws {
        let tokenizer = try ByteLevelBPETokenizer(vocabFile: Fixtures.path("tokenizers/tiny-bpe-vocab.json"),
                                                  mergesFile: Fixtures.path("tokenizers/tiny-bpe-merges.txt"))
        #expect(throws: DetectorError.emptyPrompt) {
            _ = try PromptPacker.pack([CategoryPrompt(categoryID: 1, prompt: "cat"), CategoryPrompt(categoryID: 2, prompt: "  ")],
                                      tokenizer: tokenizer, maxTokens: 255)
        }
        #expect(throws: DetectorError.self) {
            _ = try PromptPacker.pack([CategoryPrompt(categoryID: 1, prompt: String(repeating: "cat ", count: 300))],
                                      tokenizer: tokenizer, maxTokens: 255)
        }
    }

    @Test func theShortlistTakesTheBestRankedAndThoseAboveTheFloorInVocabularyOrder() {
        let rank: [Float] = [0.1, 0.9, 0.5, 0.9, 0.05, 0.6]
        #expect(MDETRDetector.shortlist(rank: rank, k: 2, minScore: nil) == [1, 3])
        #expect(MDETRDetector.shortlist(rank: rank, k: 3, minScore: nil) == [1, 3, 5])
        #expect(MDETRDetector.shortlist(rank: rank, k: 1, minScore: 0.5) == [1, 2, 3, 5])
        #expect(MDETRDetector.shortlist(rank: rank, k: 0, minScore: nil) == [])
        #expect(MDETRDetector.shortlist(rank: rank, k: 99, minScore: nil) == Array(0..<6))
    }

    static let colours = ["star", "red circle", "a ring", "blue", "small square", "cross", "heart"]
        .enumerated().map { CategoryPrompt(categoryID: $0.offset + 1, prompt: $0.element) }

    /// A packed caption's boxes are scored with the probability mass each category's tokens get: recomputed here
    /// from the raw outputs of that caption.
    @Test func packedScoresAreTheProbabilityMassOnEachCategorysTokens() throws {
        let detector = try ModelPackage.load(Fixtures.path("mdetr_end_to_end/checkpoint.pth"))
        let image = PreprocessingTests.pattern(64, 48)
        let query = VocabularyQuery(categories: Self.colours, strategy: .packed(alsoAbove: nil), merge: MergeSettings(topN: 0))
        let answer = try detector.detect(image, vocabulary: query)
        let packs = try PromptPacker.pack(Self.colours, tokenizer: detector.tokenizer, maxTokens: detector.model.maxTokens)
        #expect(packs.count == 1 && answer.passes == 1)
        let prepared = try detector.prepare(image)
        let output = detector.run(prepared, text: detector.model.encodeText(detector.tokenizer.encode(packs[0].caption).ids))
        let probabilities = PostProcess.probabilities(output.logits)
        let boxes = PostProcess.boxes(output.boxes, width: prepared.width, height: prepared.height)
        var want: [(Int, Float, Box)] = []
        for q in 0..<probabilities.shape[0] {
            let mass = packs[0].tokens.map { span in span.reduce(Float(0)) { $0 + probabilities.data[q * 256 + $1] } }
            let best = mass.indices.max { mass[$0] < mass[$1] || (mass[$0] == mass[$1] && $0 > $1) }!
            want.append((Self.colours[best].categoryID, mass[best], boxes[q]))
        }
        want.sort { $0.1 > $1.1 }
        #expect(answer.detections.count == want.count)
        for (got, (category, score, box)) in zip(answer.detections, want) {
            #expect(got.categoryID == category && abs(got.score - score) < 1e-5 && got.box == box)
        }
        // With `alsoAbove` 0 every category of the caption is named for every query.
        let all = try detector.detect(image, vocabulary: VocabularyQuery(categories: Self.colours, strategy: .packed(alsoAbove: 0),
                                                                        merge: MergeSettings(topN: 0)))
        #expect(all.detections.count == probabilities.shape[0] * Self.colours.count)
    }

    /// With k ≥ the vocabulary the shortlist asks every category exactly: detection for detection what `exact` gives.
    @Test(arguments: [7, 100])
    func aShortlistAsLongAsTheVocabularyIsTheExactProtocol(k: Int) throws {
        let detector = try ModelPackage.load(Fixtures.path("mdetr_end_to_end/checkpoint.pth"))
        detector.promptsPerPass = 3
        let image = PreprocessingTests.pattern(64, 48)
        for merge in [MergeSettings(topN: 0), MergeSettings(topN: 12), MergeSettings(topN: 20, scoreThreshold: 0.2, nmsIoU: 0.5)] {
            let exact = try detector.detect(image, vocabulary: VocabularyQuery(categories: Self.colours, strategy: .exact, merge: merge))
            let shortlist = try detector.detect(image, vocabulary: VocabularyQuery(categories: Self.colours,
                                                                                   strategy: .shortlist(k: k, minScore: nil), merge: merge))
            #expect(shortlist.detections == exact.detections)
            #expect(shortlist.shortlist == Self.colours.map(\.categoryID))
            #expect(exact.passes == 7 && shortlist.passes == 7, "every category makes the list: no packed pass is needed")
        }
        // A short list asks fewer prompts, and its boxes are exact boxes of the categories it kept.
        let two = try detector.detect(image, vocabulary: VocabularyQuery(categories: Self.colours, strategy: .shortlist(k: 2, minScore: nil),
                                                                         merge: MergeSettings(topN: 0)))
        let kept = Set(try #require(two.shortlist))
        #expect(kept.count == 2 && two.passes == 3, "one packed caption, then the two best categories")
        let exact = try detector.detect(image, vocabulary: VocabularyQuery(categories: Self.colours, merge: MergeSettings(topN: 0)))
        #expect(two.detections == exact.detections.filter { kept.contains($0.categoryID) })
    }

    /// The encoded text is kept in the store: a new detector (a restart) reads it instead of encoding; a new version,
    /// another strategy or a damaged file is encoded again; what is read equals what was encoded.
    @Test func theEncodedTextIsKeptAcrossRestartsAndRebuiltWhenTheVocabularyChanges() throws {
        final class MemoryStore: TextFeatureStore, @unchecked Sendable {
            var files: [String: Data] = [:]
            var loads = 0, saves = 0
            func load(key: String) -> Data? { loads += 1; return files[key] }
            func save(key: String, data: Data) { saves += 1; files[key] = data }
        }
        let store = MemoryStore()
        let image = PreprocessingTests.pattern(64, 48)
        func ask(_ version: String, _ strategy: QueryStrategy = .shortlist(k: 3, minScore: nil)) throws -> VocabularyAnswer {
            let detector = try ModelPackage.load(Fixtures.path("mdetr_end_to_end/checkpoint.pth"))   // a fresh process's model
            return try detector.detect(image, vocabulary: VocabularyQuery(categories: Self.colours, strategy: strategy,
                                                                          merge: MergeSettings(topN: 0), version: version, store: store))
        }
        let first = try ask("colours@1")
        #expect(!first.textFromStore && store.saves == 1)
        let again = try ask("colours@1")
        #expect(again.textFromStore && store.saves == 1)
        #expect(again.detections == first.detections)
        #expect(!(try ask("colours@2")).textFromStore && store.saves == 2, "a new version is encoded again")
        #expect(!(try ask("colours@1", .exact)).textFromStore && store.saves == 3, "so is another strategy")
        for key in Array(store.files.keys) {
            var damaged = store.files[key]!
            damaged[damaged.count / 2] ^= 0x40
            store.files[key] = damaged
        }
        let rebuilt = try ask("colours@1")
        #expect(!rebuilt.textFromStore && rebuilt.detections == first.detections, "a damaged file is ignored and replaced")
        store.files = store.files.mapValues { Data($0.prefix(40)) }
        #expect(!(try ask("colours@1")).textFromStore, "so is a truncated one")
    }
}
