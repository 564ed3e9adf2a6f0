import Foundation

/// How a category becomes the caption MDETR is asked (one class per prompt, LVIS-style).
public enum PromptTemplate: Sendable, Equatable {
    /// The official `clean_name`: parenthetical removed, underscores to spaces, double spaces collapsed, no strip
    /// ("bow_(weapon)" → "bow " with its trailing space, as MDETR trained and evaluated).
    case cleanName
    /// "name: definition" (concept enrichment, as DetCLIPv2 does); the bare clean name when there is no definition.
    case nameAndDefinition
    /// A user template where `{name}` is replaced by the clean name and `{definition}` by the definition.
    case custom(String)

    public func prompt(name: String, definition: String?) -> String {
        let clean = Self.cleanName(name)
        switch self {
        case .cleanName:
            return clean
        case .nameAndDefinition:
            guard let definition, !definition.isEmpty else { return clean }
            return clean.trimmingCharacters(in: .whitespaces) + ": " + definition
        case let .custom(template):
            return template.replacingOccurrences(of: "{name}", with: clean.trimmingCharacters(in: .whitespaces))
                .replacingOccurrences(of: "{definition}", with: definition ?? "")
        }
    }

    /// MDETR's `clean_name`: `re.sub(r"\(.*\)", "", name)`, `re.sub(r"_", " ", name)`, `re.sub(r"  ", " ", name)`.
    public static func cleanName(_ name: String) -> String {
        var s = name
        // Greedy like the regex: from the first "(" to the last ")".
        if let open = s.firstIndex(of: "("), let close = s.lastIndex(of: ")"), open < close {
            s.removeSubrange(open...close)
        }
        s = s.replacingOccurrences(of: "_", with: " ")
        // re.sub replaces non-overlapping occurrences once, left to right (not repeatedly).
        s = s.replacingOccurrences(of: "  ", with: " ")
        return s
    }
}
