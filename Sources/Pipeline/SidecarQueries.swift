import Foundation

/// Per-image questions: a sidecar file next to an image (`photo.jpg.json` beside `photo.jpg`) asks grounding
/// questions instead of (or, with `"vocabulary": true`, besides) the inbox's vocabulary or prompts. Accepted forms:
///
///     {"caption": "a red star left of a blue ring", "phrases": [[2, 10], [24, 30]]}   character spans, end exclusive
///     {"phrases": ["red star", "blue ring"], "vocabulary": true}                         each phrase its own prompt
///     ["red star", "blue ring"]
///
/// Spans count Unicode code points (as Python's str does, which MDETR's tokens_positive use).
public struct SidecarQueries: Codable, Sendable, Equatable {
    public var caption: String?
    /// With a caption: the phrases' spans in it.
    public var spans: [[Int]]
    /// Without a caption: free-text phrases, each asked as its own prompt.
    public var phrases: [String]
    /// Also ask the inbox's vocabulary.
    public var vocabulary: Bool

    public static let suffix = ".json"
    public static let maxBytes = 64 * 1024
    static let maxPhrases = 64, maxCaption = 2000

    public init(caption: String? = nil, spans: [[Int]] = [], phrases: [String] = [], vocabulary: Bool = false) {
        self.caption = caption
        self.spans = spans
        self.phrases = phrases
        self.vocabulary = vocabulary
    }

    /// The caption's phrase spans as ranges.
    public var ranges: [Range<Int>] { spans.map { $0[0]..<$0[1] } }

    /// The phrases' text, whichever form was given.
    public var phraseTexts: [String] {
        guard let caption else { return phrases }
        let scalars = Array(caption.unicodeScalars)
        return ranges.map { String(String.UnicodeScalarView(scalars[$0])) }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case malformed(String)
        public var description: String {
            switch self { case let .malformed(reason): return "malformed sidecar: \(reason)" }
        }
    }

    /// Parses and validates a sidecar file's bytes.
    public static func parse(_ data: Data) throws -> SidecarQueries {
        guard data.count <= maxBytes else { throw Failure.malformed("larger than \(maxBytes) bytes") }
        guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw Failure.malformed("not JSON")
        }
        if let place = NULCheck.path(in: json, at: "the sidecar") { throw Failure.malformed("\(place) contains a NUL character") }
        var queries = SidecarQueries()
        if let list = json as? [Any] {
            queries.phrases = try strings(list)
        } else if let object = json as? [String: Any] {
            let known: Set = ["caption", "phrases", "vocabulary"]
            if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
                throw Failure.malformed("unknown key '\(unknown)' (expected caption, phrases, vocabulary)")
            }
            if let v = object["vocabulary"] {
                guard isBoolean(v), let flag = v as? Bool else {
                    throw Failure.malformed("'vocabulary' must be true or false")
                }
                queries.vocabulary = flag
            }
            if let c = object["caption"] {
                guard let caption = c as? String else { throw Failure.malformed("'caption' must be a string") }
                let length = caption.unicodeScalars.count
                guard !caption.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, length <= maxCaption else {
                    throw Failure.malformed("'caption' must be 1…\(maxCaption) characters")
                }
                queries.caption = caption
                guard let raw = object["phrases"] as? [Any], !raw.isEmpty else {
                    throw Failure.malformed("a caption needs 'phrases': a list of [start, end] character spans")
                }
                guard raw.count <= maxPhrases else { throw Failure.malformed("more than \(maxPhrases) phrases") }
                queries.spans = try raw.enumerated().map { (i, item) in
                    guard let pair = item as? [Any], pair.count == 2, let a = integer(pair[0]), let b = integer(pair[1]) else {
                        throw Failure.malformed("phrase \(i) must be a [start, end] pair of integers")
                    }
                    guard 0 <= a, a < b, b <= length else {
                        throw Failure.malformed("phrase \(i) [\(a), \(b)] is empty or outside the caption's \(length) characters")
                    }
                    return [a, b]
                }
            } else if let raw = object["phrases"] {
                guard let list = raw as? [Any] else { throw Failure.malformed("'phrases' must be a list") }
                queries.phrases = try strings(list)
            } else if !queries.vocabulary {
                throw Failure.malformed("nothing to ask: give 'caption' with 'phrases', or 'phrases'")
            }
        } else {
            throw Failure.malformed("expected an object or a list of phrases")
        }
        return queries
    }

    private static func strings(_ list: [Any]) throws -> [String] {
        guard !list.isEmpty, list.count <= maxPhrases else { throw Failure.malformed("'phrases' must hold 1…\(maxPhrases) phrases") }
        return try list.enumerated().map { (i, item) in
            guard let s = item as? String, !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, s.count <= 500 else {
                throw Failure.malformed("phrase \(i) must be a non-empty string of at most 500 characters")
            }
            return s
        }
    }

    /// JSON numbers that are whole (JSONSerialization gives NSNumber for both 3 and 3.0; booleans are refused).
    private static func integer(_ value: Any) -> Int? {
        guard !isBoolean(value), let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 else { return nil }
        return n.intValue
    }

    /// JSON true/false: Foundation hands them over as NSNumber, told apart from numbers by their `c` (char) type.
    static func isBoolean(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        guard let n = value as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    /// The stored form (sorted keys).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    public static func decode(stored: String) -> SidecarQueries? {
        try? JSONDecoder().decode(SidecarQueries.self, from: Data(stored.utf8))
    }
}
