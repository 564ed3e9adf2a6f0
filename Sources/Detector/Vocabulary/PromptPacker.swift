/// Several categories in one caption ("cat. dog. sofa."), GLIP-style, with where each one's words are.
public struct PackedPrompt: Sendable, Equatable {
    public var caption: String
    /// The categories in caption order, and their positions in the vocabulary.
    public var categories: [CategoryPrompt]
    public var members: [Int]
    /// Each category's text in the caption: code-point range, end exclusive.
    public var spans: [Range<Int>]
    /// Each category's tokens (inclusive positions in the encoded caption, special tokens counted).
    public var tokens: [ClosedRange<Int>]
    /// The caption's token count, special tokens included.
    public var tokenCount: Int
    /// A category the packed caption cannot locate (its words map to no token) is asked alone, with its own prompt,
    /// and scored as `exact` scores it (1 − P(no-object)); `spans`/`tokens` are then empty.
    public var solo: Bool
}

/// Packs a vocabulary into as few captions as the text encoder reads: in vocabulary order, each caption filled with
/// whole categories until the next would pass `maxTokens` (so the same vocabulary always gives the same passes, and a
/// category is never split between two). A category's text is its prompt without surrounding white space.
public enum PromptPacker {
    public static let separator = ". "

    public static func pack(_ vocabulary: [CategoryPrompt], tokenizer: any Tokenizer, maxTokens: Int) throws -> [PackedPrompt] {
        let texts = vocabulary.map { $0.prompt.trimmingCharacters(in: .whitespacesAndNewlines) }
        if texts.contains(where: \.isEmpty) { throw DetectorError.emptyPrompt }
        let specials = tokenizer.encode("").ids.count
        // A category's cost in a caption where it follows another: its words, the space before and the full stop after.
        // Only an estimate (a tokenizer may merge across the boundary); every caption is checked whole below.
        let cost = texts.map { max(1, tokenizer.encode(" " + $0 + ".").ids.count - specials) }
        var packs: [PackedPrompt] = []
        var start = 0
        while start < texts.count {
            var end = start, estimate = specials
            while end < texts.count, end == start || estimate + cost[end] <= maxTokens {
                estimate += cost[end]
                end += 1
            }
            while true {
                var pack = build(Array(start..<end), vocabulary, texts: texts, tokenizer: tokenizer)
                if pack.tokenCount <= maxTokens {
                    // Categories the caption cannot locate leave it and are asked alone, after it (taking one out can
                    // change how its neighbours tokenize, so the smaller caption is checked again).
                    var lost: [Int] = []
                    while let missing = pack.spans.firstIndex(where: \.isEmpty) {
                        lost.append(pack.members[missing])
                        let kept = pack.members.filter { !lost.contains($0) }
                        if kept.isEmpty { break }
                        pack = build(kept, vocabulary, texts: texts, tokenizer: tokenizer)
                    }
                    if pack.members.contains(where: { !lost.contains($0) }) { packs.append(pack) }
                    for i in lost.sorted() { packs.append(try solo(i, vocabulary[i], tokenizer: tokenizer, maxTokens: maxTokens)) }
                    break
                }
                if end - start == 1 {
                    // Alone and still too long with its full stop: asked alone by its own prompt, as `exact` would
                    // (which refuses it only if that is too long too).
                    packs.append(try solo(start, vocabulary[start], tokenizer: tokenizer, maxTokens: maxTokens))
                    break
                }
                end -= 1
            }
            start = end
        }
        return packs
    }

    /// One caption of `categories` (texts already trimmed). A category whose span maps to no token of its own gets an
    /// empty span (and a placeholder token range); `pack` takes it out.
    static func build(_ members: [Int], _ vocabulary: [CategoryPrompt], texts: [String], tokenizer: any Tokenizer) -> PackedPrompt {
        var caption = ""
        var spans: [Range<Int>] = []
        var position = 0
        for member in members {
            let text = texts[member]
            if !spans.isEmpty {
                caption += separator
                position += separator.unicodeScalars.count
            }
            let length = text.unicodeScalars.count
            spans.append(position..<(position + length))
            caption += text
            position += length
        }
        caption += "."
        let encoding = tokenizer.encode(caption)
        var tokens: [ClosedRange<Int>] = []
        var located: [Range<Int>] = []
        for span in spans {
            // The official fallbacks (±1, ±2 characters) may land on a neighbour's token in a packed caption: only
            // tokens starting inside the category's own characters count.
            if let range = PositiveMap.tokenRanges(encoding, spans: [span]).first,
               encoding.offsets[range.lowerBound].lowerBound >= span.lowerBound,
               encoding.offsets[range.upperBound].lowerBound < span.upperBound {
                tokens.append(range)
                located.append(span)
            } else {
                tokens.append(0...0)
                located.append(span.lowerBound..<span.lowerBound)
            }
        }
        return PackedPrompt(caption: caption, categories: members.map { vocabulary[$0] }, members: members, spans: located,
                            tokens: tokens, tokenCount: encoding.ids.count, solo: false)
    }

    static func solo(_ member: Int, _ category: CategoryPrompt, tokenizer: any Tokenizer, maxTokens: Int) throws -> PackedPrompt {
        let count = tokenizer.encode(category.prompt).ids.count
        guard count <= maxTokens else { throw DetectorError.promptTooLong(tokens: count, limit: maxTokens) }
        return PackedPrompt(caption: category.prompt, categories: [category], members: [member], spans: [], tokens: [],
                            tokenCount: count, solo: true)
    }
}
