import Crypto
import Foundation

extension MDETRDetector {
    /// LVIS-style querying by `query.strategy`: the backbone once; the vocabulary's text encoded once (kept in memory
    /// and in `query.store`); then `exact` runs every category's prompt, `packed` the packed captions, `shortlist`
    /// the packed captions and then its shortlist's prompts — `promptsPerPass` sequences side by side at a time —
    /// merged per `query.merge`. `progress` hears (passes done, passes in all) after each group of passes.
    public func detect(_ image: RGBImage, vocabulary query: VocabularyQuery,
                       progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> VocabularyAnswer {
        let encoded = try encode(query)
        var answer = answer(try prepare(image), encoded, strategy: query.strategy, settings: query.merge, progress: progress)
        answer.textFromStore = encoded.fromStore
        return answer
    }

    /// The querying itself, on a prepared image and an encoded vocabulary (what the vocabulary benchmark times).
    public func answer(_ prepared: PreparedImage, _ encoded: EncodedVocabulary, strategy: QueryStrategy, settings: MergeSettings,
                       progress: ((_ done: Int, _ total: Int) -> Void)? = nil) -> VocabularyAnswer {
        switch strategy {
        case .exact:
            precondition(encoded.prompts.count == encoded.categories.count, "encoded for another strategy")
            let found = detections(prepared, prompts: Array(zip(encoded.categories, encoded.prompts)), settings: settings, progress: progress)
            return VocabularyAnswer(detections: found, passes: encoded.categories.count)
        case let .packed(alsoAbove):
            let (found, _) = packedPasses(prepared, encoded, alsoAbove: alsoAbove, settings: settings) { done in
                progress?(done, encoded.packs.count)
            }
            return VocabularyAnswer(detections: Self.merge(found, settings: settings), passes: encoded.packs.count)
        case let .shortlist(k, minScore):
            precondition(encoded.prompts.count == encoded.categories.count, "encoded for another strategy")
            if k >= encoded.categories.count {
                // Every category makes the list: the packed passes could only rank what is asked anyway.
                var answer = self.answer(prepared, encoded, strategy: .exact, settings: settings, progress: progress)
                answer.shortlist = encoded.categories.map(\.categoryID)
                return answer
            }
            let packs = encoded.packs.count
            let estimate = packs + k
            let (_, rank) = packedPasses(prepared, encoded, alsoAbove: nil, settings: settings, collect: false) { progress?($0, estimate) }
            let chosen = Self.shortlist(rank: rank, k: k, minScore: minScore)
            let found = detections(prepared, prompts: chosen.map { (encoded.categories[$0], encoded.prompts[$0]) },
                                   settings: settings) { done, total in progress?(packs + done, packs + total) }
            return VocabularyAnswer(detections: found, passes: packs + chosen.count,
                                    shortlist: chosen.map { encoded.categories[$0].categoryID })
        }
    }

    /// The best `k` categories by rank score (ties in vocabulary order), with every one scoring at least `minScore`,
    /// as positions in the vocabulary, in vocabulary order (so `k` ≥ the vocabulary asks exactly what `exact` asks,
    /// in the same order).
    static func shortlist(rank: [Float], k: Int, minScore: Float?) -> [Int] {
        let order = rank.indices.sorted { rank[$0] != rank[$1] ? rank[$0] > rank[$1] : $0 < $1 }
        var chosen = Set(order.prefix(max(0, k)))
        if let minScore { chosen.formUnion(rank.indices.filter { rank[$0] >= minScore }) }
        return chosen.sorted()
    }

    /// Runs the packed captions: per query, each category's score is the probability mass on its tokens (a solo
    /// category's is 1 − P(no-object)); a query yields its best category, and others above `alsoAbove`. Returns those
    /// detections (only scores above `settings.scoreThreshold`; none unless `collect`) and each category's best score
    /// over the queries (indexed like the vocabulary), the shortlist's ranking.
    func packedPasses(_ prepared: PreparedImage, _ encoded: EncodedVocabulary, alsoAbove: Float?, settings: MergeSettings,
                      collect: Bool = true, progress: (Int) -> Void) -> ([CategoryDetection], [Float]) {
        var found: [CategoryDetection] = []
        var rank = [Float](repeating: 0, count: encoded.categories.count)
        let group = max(1, promptsPerPass)
        for start in stride(from: 0, to: encoded.packs.count, by: group) {
            let range = start..<min(start + group, encoded.packs.count)
            let outputs = model.forward(image: prepared.features, texts: Array(encoded.packFeatures[range]))
            for (pack, output) in zip(encoded.packs[range], outputs) {
                let probabilities = PostProcess.probabilities(output.logits)       // (Q, 256)
                let scores = pack.solo ? PostProcess.scores(probabilities).map { [$0] }
                    : PostProcess.spanMass(probabilities, tokens: pack.tokens)      // Q × categories of the pack
                let boxes = PostProcess.boxes(output.boxes, width: prepared.width, height: prepared.height)
                for (q, row) in scores.enumerated() {
                    var best = 0
                    for (j, s) in row.enumerated() {
                        rank[pack.members[j]] = max(rank[pack.members[j]], s)
                        if s > row[best] { best = j }
                    }
                    for (j, s) in row.enumerated() where collect && s > settings.scoreThreshold
                    && (j == best || alsoAbove.map { s > $0 } == true) {
                        found.append(CategoryDetection(categoryID: pack.categories[j].categoryID, prompt: pack.categories[j].prompt,
                                                       box: boxes[q], score: s))
                    }
                }
            }
            if settings.topN > 0, settings.nmsIoU == nil, found.count / 4 > settings.topN {
                found = Self.merge(found, settings: settings)
            }
            progress(range.upperBound)
        }
        return (found, rank)
    }

    /// One prompt per category: each query scored 1 − P(no-object) for its prompt's category, `promptsPerPass`
    /// prompts at a time, merged per `settings`. `progress` is told how many prompts are done after each pass.
    public func detections(_ prepared: PreparedImage, prompts: [(CategoryPrompt, TextFeatures)], settings: MergeSettings,
                           progress: ((_ done: Int, _ total: Int) -> Void)? = nil) -> [CategoryDetection] {
        var all: [CategoryDetection] = []
        for start in stride(from: 0, to: prompts.count, by: max(1, promptsPerPass)) {
            let pass = prompts[start..<min(start + max(1, promptsPerPass), prompts.count)]
            let outputs = model.forward(image: prepared.features, texts: pass.map(\.1))
            for ((entry, _), output) in zip(pass, outputs) {
                let scores = PostProcess.scores(PostProcess.probabilities(output.logits))
                let boxes = PostProcess.boxes(output.boxes, width: prepared.width, height: prepared.height)
                for q in scores.indices where scores[q] > settings.scoreThreshold {
                    all.append(CategoryDetection(categoryID: entry.categoryID, prompt: entry.prompt, box: boxes[q], score: scores[q]))
                }
            }
            // Bound the candidates kept between passes: only the best topN can survive the merge. NMS needs them all.
            if settings.topN > 0, settings.nmsIoU == nil, all.count / 4 > settings.topN {
                all = Self.merge(all, settings: settings)
            }
            progress?(start + pass.count, prompts.count)
        }
        return Self.merge(all, settings: settings)
    }

    /// The vocabulary's text for `query.strategy`: from memory, else from `query.store`, else encoded now (and saved).
    public func encode(_ query: VocabularyQuery) throws -> EncodedVocabulary {
        let strategy = query.strategy
        let key = textKey(query)
        if let hit = encodedVocabularies[key], hit.categories == query.categories { return hit }
        let packs = strategy.usesPacks
            ? try PromptPacker.pack(query.categories, tokenizer: tokenizer, maxTokens: model.maxTokens) : []
        let prompts = strategy.usesExactPrompts ? try query.categories.map { try checkedEncoding($0.prompt).ids } : []
        let captions = packs.map { tokenizer.encode($0.caption).ids }
        let rows = (prompts + captions).map(\.count)
        var matrices: [Tensor]
        var fromStore = false
        if let data = query.store?.load(key: key),
           let stored = TextFeatureFile.decode(data, key: key, rows: rows, columns: model.config.hidden) {
            matrices = stored
            fromStore = true
        } else {
            matrices = model.encodeTexts(prompts + captions).map(\.tokens)
            query.store?.save(key: key, data: TextFeatureFile.encode(key: key, matrices: matrices))
        }
        let features = matrices.map { TextFeatures(tokens: $0) }
        func encoded(fromStore: Bool) -> EncodedVocabulary {
            EncodedVocabulary(key: key, categories: query.categories, prompts: Array(features[..<prompts.count]),
                              packs: packs, packFeatures: Array(features[prompts.count...]), fromStore: fromStore)
        }
        if encodedVocabularies.count >= 4 { encodedVocabularies.removeAll() }   // a daemon asks a few vocabularies
        encodedVocabularies[key] = encoded(fromStore: false)   // later calls find it in memory
        return encoded(fromStore: fromStore)
    }

    /// Hex SHA-256 over everything the encoded text depends on: the code that makes it (text encoder and packer
    /// revisions, bumped when their output changes), the weights, the tokenizer (its ids for a probe), the token
    /// limit, the strategy, the vocabulary's version and every category's prompt. Each field is length-prefixed, so
    /// no choice of names can make two different vocabularies hash alike.
    func textKey(_ query: VocabularyQuery) -> String {
        var hash = FieldHash()
        func add(_ s: String) { hash.add(s) }
        add("pipelined text features 1, text encoder 2, packer 1")
        add(identity.weightsSHA256)
        add("\(identity.name)@\(identity.version)")
        add("\(model.maxTokens) \(tokenizer.encode("a photo of a Ping-Pong ball (sports) 3").ids)")
        add(query.strategy.usesPacks ? (query.strategy.usesExactPrompts ? "packed+exact" : "packed") : "exact")
        add(query.version)
        for c in query.categories {
            add("\(c.categoryID)")
            add(c.prompt)
        }
        return hash.hex()
    }

    /// Optional class-wise NMS, then the best `topN` (stable by descending score).
    public static func merge(_ detections: [CategoryDetection], settings: MergeSettings) -> [CategoryDetection] {
        var kept = detections
        if let threshold = settings.nmsIoU {
            var byCategory: [Int: [CategoryDetection]] = [:]
            for d in detections { byCategory[d.categoryID, default: []].append(d) }
            kept = []
            for categoryID in byCategory.keys.sorted() {
                let group = byCategory[categoryID]!.sorted(by: { $0.score > $1.score })
                kept += Box.suppress(group.map(\.box), order: Array(group.indices), threshold: threshold).map { group[$0] }
            }
        }
        let ordered = kept.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
        }.map(\.element)
        return settings.topN > 0 ? Array(ordered.prefix(settings.topN)) : ordered
    }
}
