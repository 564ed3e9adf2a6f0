/// Why a labels file was refused. The description is the reason stored in `label_imports` and logged; a file is
/// refused whole at the first problem found.
public enum LabelError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case malformedJSON(String)
    case invalid(String)
    case duplicate(String)
    case outside(String)
    case unknownImage(String)
    case unknownCategory(String)
    case unknownVocabulary(String)
    case notReady(String)

    public var description: String {
        switch self {
        case let .unreadable(s): return "cannot read the file: \(s)"
        case let .malformedJSON(s): return "malformed JSON: \(s)"
        case let .invalid(s): return s
        case let .duplicate(s): return "duplicate: \(s)"
        case let .outside(s): return "box outside its image: \(s)"
        case let .unknownImage(s): return "unknown image: \(s)"
        case let .unknownCategory(s): return "unknown category: \(s)"
        case let .unknownVocabulary(s): return "unknown vocabulary: \(s)"
        case let .notReady(s): return s
        }
    }
}
