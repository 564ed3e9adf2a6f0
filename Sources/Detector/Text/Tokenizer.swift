/// Token ids with the character span each token came from (code-point offsets into the caption, end exclusive),
/// as HuggingFace fast tokenizers report them: special tokens have (0, 0), and spaces belong to no token.
public struct Encoding: Sendable, Equatable {
    public var ids: [Int]
    public var offsets: [Range<Int>]
    /// The caption in code points, for mapping spans back to text.
    public var text: [Unicode.Scalar]

    public init(ids: [Int], offsets: [Range<Int>], text: [Unicode.Scalar]) {
        self.ids = ids
        self.offsets = offsets
        self.text = text
    }

    /// The token covering character `char`, or nil (spaces, or beyond the text). Like `BatchEncoding.char_to_token`.
    public func token(atCharacter char: Int) -> Int? {
        offsets.firstIndex { !$0.isEmpty && $0.contains(char) }
    }

    /// The caption text of a character range.
    public func substring(_ range: Range<Int>) -> String { text.text(range) }
}

extension Array where Element == Unicode.Scalar {
    /// The text of a code-point range (as MDETR's `tokens_positive` count), cut to the array; "" when nothing is left.
    public func text(_ range: Range<Int>) -> String {
        let lower = Swift.max(0, range.lowerBound), upper = Swift.min(count, range.upperBound)
        guard lower < upper else { return "" }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: self[lower..<upper])
        return String(s)
    }
}

/// A tokenizer that matches a HuggingFace fast tokenizer's ids and offsets.
public protocol Tokenizer: Sendable {
    /// Encodes one caption with the model's special tokens around it.
    func encode(_ text: String) -> Encoding
}

/// Why a tokenizer cannot be built or used.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case malformed(file: String, detail: String)
    case emptyPrompt
    case tooLong(tokens: Int, limit: Int)

    public var description: String {
        switch self {
        case let .missingFile(f): return "tokenizer file \(f) not found"
        case let .malformed(file, detail): return "tokenizer file \(file) is malformed: \(detail)"
        case .emptyPrompt: return "the prompt is empty"
        case let .tooLong(tokens, limit): return "the prompt has \(tokens) tokens but the model accepts at most \(limit)"
        }
    }
}
