import Foundation

/// RoBERTa's byte-level BPE (HuggingFace `RobertaTokenizerFast`: add_prefix_space false, trim_offsets true):
/// GPT-2 pre-tokenization, bytes mapped to printable characters, merges applied by rank, `<s>` … `</s>` around.
/// Offsets index the caption's code points; a token's leading/trailing spaces are trimmed from its span, so spaces
/// belong to no token, and a token holding part of a multi-byte character spans that whole character.
public struct ByteLevelBPETokenizer: Tokenizer {
    let vocab: [String: Int]
    let ranks: [String: Int]          // "a b" → merge rank
    let bos: Int, eos: Int, unknown: Int?
    static let byteToChar: [Character] = {
        // GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var chars = printable
        var n = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            chars.append(256 + n)
            n += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(printable, chars) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }()

    public init(vocabFile: String, mergesFile: String) throws {
        guard let vocabData = FileManager.default.contents(atPath: vocabFile) else { throw TokenizerError.missingFile(vocabFile) }
        guard let mergesText = try? String(contentsOfFile: mergesFile, encoding: .utf8) else {
            throw TokenizerError.missingFile(mergesFile)
        }
        guard let json = try? JSONSerialization.jsonObject(with: vocabData) as? [String: Int] else {
            throw TokenizerError.malformed(file: vocabFile, detail: "not a JSON object of token → id")
        }
        var ranks: [String: Int] = [:]
        for line in mergesText.split(separator: "\n") where !line.hasPrefix("#version") {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else {
                throw TokenizerError.malformed(file: mergesFile, detail: "line '\(line.prefix(40))' is not a pair")
            }
            if ranks["\(parts[0]) \(parts[1])"] == nil { ranks["\(parts[0]) \(parts[1])"] = ranks.count }
        }
        guard let bos = json["<s>"], let eos = json["</s>"] else {
            throw TokenizerError.malformed(file: vocabFile, detail: "no <s>/</s>: not a RoBERTa vocabulary")
        }
        self.vocab = json
        self.ranks = ranks
        self.bos = bos
        self.eos = eos
        self.unknown = json["<unk>"]
    }

    public func encode(_ text: String) -> Encoding {
        let scalars = Array(text.unicodeScalars)
        var ids = [bos], offsets = [0..<0]
        for piece in Self.preTokenize(scalars) {
            // Byte-level characters, each remembering the code point it came from.
            var chars: [(Character, Int)] = []
            for i in piece {
                for byte in String(scalars[i]).utf8 { chars.append((Self.byteToChar[Int(byte)], i)) }
            }
            for (symbol, lo, hi) in bpe(chars.map(\.0)) {
                let token = String(symbol)
                ids.append(vocab[token] ?? unknown ?? 0)
                var start = chars[lo].1, end = chars[hi - 1].1 + 1
                // trim_offsets: Ġ (a space byte) or other whitespace at either end does not count.
                let leading = symbol.prefix { $0 == "Ġ" || $0.isWhitespace }.count
                let trailing = symbol.reversed().prefix { $0 == "Ġ" || $0.isWhitespace }.count
                if leading > 0 { start = min(start + leading, end) }
                if trailing > 0 && end >= trailing { end = max(end - trailing, start) }
                offsets.append(start..<end)
            }
        }
        ids.append(eos)
        offsets.append(0..<0)
        return Encoding(ids: ids, offsets: offsets, text: scalars)
    }

    /// Applies merges by rank; returns each final symbol with its range of byte-level characters.
    private func bpe(_ chars: [Character]) -> [(String, Int, Int)] {
        var symbols: [(String, Int, Int)] = chars.enumerated().map { (String($1), $0, $0 + 1) }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<(symbols.count - 1) {
                if let r = ranks[symbols[i].0 + " " + symbols[i + 1].0], r < (best?.rank ?? Int.max) { best = (r, i) }
            }
            guard let (_, i) = best else { break }
            symbols[i] = (symbols[i].0 + symbols[i + 1].0, symbols[i].1, symbols[i + 1].2)
            symbols.remove(at: i + 1)
            // Merge every other occurrence of the same pair too, left to right, as BPE does in one step.
            var j = i + 1
            while j < symbols.count - 1 {
                if symbols[j].0 + symbols[j + 1].0 == symbols[i].0,
                   ranks[symbols[j].0 + " " + symbols[j + 1].0] == best?.rank {
                    symbols[j] = (symbols[j].0 + symbols[j + 1].0, symbols[j].1, symbols[j + 1].2)
                    symbols.remove(at: j + 1)
                }
                j += 1
            }
        }
        return symbols
    }

    /// GPT-2's pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, as index ranges.
    static func preTokenize(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        func isLetter(_ c: Unicode.Scalar) -> Bool { Self.isL(c) }
        func isNumber(_ c: Unicode.Scalar) -> Bool {
            switch c.properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber: return true
            default: return false
            }
        }
        func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }
        func isOther(_ c: Unicode.Scalar) -> Bool { !isSpace(c) && !isLetter(c) && !isNumber(c) }
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        while i < n {
            // Contractions (case-sensitive, as in the original pattern).
            if s[i] == "'" {
                let rest = String(String.UnicodeScalarView(s[(i + 1)..<min(n, i + 3)]))
                if rest.hasPrefix("re") || rest.hasPrefix("ve") || rest.hasPrefix("ll") { out.append(i..<(i + 3)); i += 3; continue }
                if let f = rest.first, "stmd".contains(f) { out.append(i..<(i + 2)); i += 2; continue }
            }
            let start = i
            var j = i
            if s[j] == " " && j + 1 < n && !isSpace(s[j + 1]) { j += 1 }
            if j < n && isLetter(s[j]) {
                while j < n && isLetter(s[j]) { j += 1 }
                out.append(start..<j); i = j; continue
            }
            if j < n && isNumber(s[j]) {
                while j < n && isNumber(s[j]) { j += 1 }
                out.append(start..<j); i = j; continue
            }
            if j < n && isOther(s[j]) {
                while j < n && isOther(s[j]) { j += 1 }
                out.append(start..<j); i = j; continue
            }
            // Whitespace: a run, leaving its last character to the next token when a non-space follows.
            var k = i
            while k < n && isSpace(s[k]) { k += 1 }
            if k < n && k - i > 1 { k -= 1 }
            out.append(i..<k)
            i = k
        }
        return out
    }

    /// Unicode general category L* (what `\p{L}` matches).
    static func isL(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
}
