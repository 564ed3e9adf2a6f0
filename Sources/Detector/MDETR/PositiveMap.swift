/// Phrases (character spans of a caption) → token positions, exactly as the official `create_positive_map`:
/// the span's first character's token to its last character's token; when a boundary character has no token
/// (a space), try beg+1 then beg+2, and end−2 then end−3; spans that still fail are skipped. Rows are normalized
/// to sum to one.
public enum PositiveMap {
    /// (phrases, width) — width 256 for MDETR's soft-token head.
    public static func build(_ encoding: Encoding, phrases: [[Range<Int>]], width: Int = 256) -> Tensor {
        var out = Tensor(zeros: [phrases.count, width])
        for (row, spans) in phrases.enumerated() {
            for tokens in tokenRanges(encoding, spans: spans) {
                for t in tokens where t < width { out.data[row * width + t] = 1 }
            }
            var sum: Float = 0
            for j in 0..<width { sum += out.data[row * width + j] }
            for j in 0..<width { out.data[row * width + j] /= sum + 1e-6 }
        }
        return out
    }

    /// The inclusive token range of each span that maps to tokens.
    public static func tokenRanges(_ encoding: Encoding, spans: [Range<Int>]) -> [ClosedRange<Int>] {
        spans.compactMap { span in
            let beg = span.lowerBound, end = span.upperBound
            let first = encoding.token(atCharacter: beg) ?? encoding.token(atCharacter: beg + 1)
                ?? encoding.token(atCharacter: beg + 2)
            let last = encoding.token(atCharacter: end - 1) ?? encoding.token(atCharacter: end - 2)
                ?? encoding.token(atCharacter: end - 3)
            guard let first, let last, first <= last else { return nil }
            return first...last
        }
    }
}
