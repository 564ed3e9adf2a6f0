import Foundation

/// BERT's uncased WordPiece tokenizer (HuggingFace `BertTokenizerFast` defaults): clean text, pad CJK ideographs
/// with spaces, lowercase, strip accents, split on whitespace and punctuation, then greedy longest-match-first
/// word pieces with "##" continuations. Offsets index the original caption's code points.
public struct WordPieceTokenizer: Tokenizer {
    let vocab: [String: Int]
    let unknown: Int, cls: Int, sep: Int
    let maxCharsPerWord = 100

    public init(vocabFile: String) throws {
        guard let text = try? String(contentsOfFile: vocabFile, encoding: .utf8) else { throw TokenizerError.missingFile(vocabFile) }
        var vocab: [String: Int] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if !token.isEmpty && vocab[token] == nil { vocab[token] = i }
        }
        try self.init(vocab: vocab, file: vocabFile)
    }

    public init(vocab: [String: Int], file: String = "vocab") throws {
        guard let unk = vocab["[UNK]"], let cls = vocab["[CLS]"], let sep = vocab["[SEP]"] else {
            throw TokenizerError.malformed(file: file, detail: "no [UNK]/[CLS]/[SEP]: not a BERT vocabulary")
        }
        self.vocab = vocab
        self.unknown = unk
        self.cls = cls
        self.sep = sep
    }

    public func encode(_ text: String) -> Encoding {
        let original = Array(text.unicodeScalars)
        // Normalized scalars, each remembering the original character it came from.
        var normalized: [(Unicode.Scalar, Int)] = []
        for (i, scalar) in original.enumerated() {
            let v = scalar.value
            if v == 0 || v == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) { normalized.append((" ", i)); continue }
            if Self.isCJK(v) {
                normalized.append((" ", i)); normalized.append((scalar, i)); normalized.append((" ", i))
                continue
            }
            // HF's order: strip accents (NFD, drop non-spacing marks), then lowercase.
            let stripped = String(String.UnicodeScalarView(
                String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars
                    .filter { $0.properties.generalCategory != .nonspacingMark }))
            for lower in stripped.lowercased().unicodeScalars { normalized.append((lower, i)) }
        }
        // Words: runs of non-space, non-punctuation; every punctuation character is a word of its own.
        var words: [[(Unicode.Scalar, Int)]] = []
        var current: [(Unicode.Scalar, Int)] = []
        for item in normalized {
            if item.0 == " " {
                if !current.isEmpty { words.append(current); current = [] }
            } else if Self.isPunctuation(item.0) {
                if !current.isEmpty { words.append(current); current = [] }
                words.append([item])
            } else {
                current.append(item)
            }
        }
        if !current.isEmpty { words.append(current) }

        var ids = [cls], offsets = [0..<0]
        for word in words {
            let span = word.first!.1..<(word.last!.1 + 1)
            guard word.count <= maxCharsPerWord else { ids.append(unknown); offsets.append(span); continue }
            var pieces: [(Int, Range<Int>)] = []
            var start = 0
            var failed = false
            while start < word.count {
                var end = word.count
                var found: Int?
                while start < end {
                    var piece = String(String.UnicodeScalarView(word[start..<end].map(\.0)))
                    if start > 0 { piece = "##" + piece }
                    if let id = vocab[piece] { found = id; break }
                    end -= 1
                }
                guard let id = found else { failed = true; break }
                pieces.append((id, word[start].1..<(word[end - 1].1 + 1)))
                start = end
            }
            if failed {
                ids.append(unknown); offsets.append(span)
            } else {
                for (id, range) in pieces { ids.append(id); offsets.append(range) }
            }
        }
        ids.append(sep)
        offsets.append(0..<0)
        return Encoding(ids: ids, offsets: offsets, text: original)
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
