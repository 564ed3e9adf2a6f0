/// A configuration file or value that cannot be used.
public enum ConfigError: Error, CustomStringConvertible, Sendable {
    case unreadable(path: String, reason: String)
    case syntax(path: String, reason: String)
    case invalid(key: String, value: String, expected: String)
    case unknownKey(path: String, key: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read config file \(path): \(reason)"
        case let .syntax(path, reason): return "config file \(path) is not valid TOML: \(reason)"
        case let .invalid(key, value, expected): return "config key \(key) = \(value) is invalid: expected \(expected)"
        case let .unknownKey(path, key): return "config file \(path) has unknown key '\(key)' (misspelled?)"
        }
    }
}
