/// What a caller can get wrong when asking for detections.
public enum DetectorError: Error, CustomStringConvertible, Equatable {
    case emptyImage(width: Int, height: Int)
    case emptyPrompt
    case promptTooLong(tokens: Int, limit: Int)
    case tokenizerMismatch(detail: String)
    case modelNotFound(path: String)
    case tokenizerFilesMissing(needed: [String], searched: String)
    case badPhraseSpan(span: Range<Int>, captionLength: Int)

    public var description: String {
        switch self {
        case let .emptyImage(w, h): return "the image is \(w)×\(h) pixels: nothing to detect in"
        case .emptyPrompt: return "the prompt is empty: say what to look for"
        case let .promptTooLong(tokens, limit):
            return "the prompt has \(tokens) tokens but this model reads at most \(limit): shorten it or split it into several prompts"
        case let .tokenizerMismatch(detail): return "the tokenizer does not fit the model: \(detail)"
        case let .modelNotFound(path): return "no model at \(path) (expected an official .pth checkpoint or an imported model directory)"
        case let .badPhraseSpan(span, length):
            return "phrase span [\(span.lowerBound), \(span.upperBound)) is empty or outside the caption's \(length) characters"
        case let .tokenizerFilesMissing(needed, searched):
            return "the model's tokenizer needs \(needed.joined(separator: " and ")), not found in \(searched): pass them with --vocab-file/--merges-file or put them next to the checkpoint"
        }
    }
}
