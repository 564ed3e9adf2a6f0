/// PostgreSQL's text cannot hold U+0000 and libpq passes parameters as C strings, so user JSON (labels files,
/// sidecars) is checked for it up front, where the reason can name the place.
enum NULCheck {
    /// Where (as a JSON path) a string or key holding U+0000 is, if any.
    static func path(in value: Any, at place: String = "the file") -> String? {
        switch value {
        case let string as String:
            return string.unicodeScalars.contains("\u{0}") ? place : nil
        case let object as [String: Any]:
            for (key, child) in object {
                if key.unicodeScalars.contains("\u{0}") { return "a key of \(place)" }
                if let found = path(in: child, at: "\(place).\(key)") { return found }
            }
        case let list as [Any]:
            for (k, child) in list.enumerated() {
                if let found = path(in: child, at: "\(place)[\(k)]") { return found }
            }
        default: break
        }
        return nil
    }
}
