import TOMLKit

/// Reads typed keys from one TOML table and remembers which keys were used, so leftovers can be reported.
/// Shared by every TOML file pipelined reads (the daemon's config, training configs).
public struct TableReader {
    /// Parses a whole file's text.
    public static func parse(_ text: String, path: String) throws -> TableReader {
        do { return TableReader(table: try TOMLTable(string: text), prefix: "", path: path) } catch let error as TOMLParseError {
            throw ConfigError.syntax(path: path, reason: "\(error.description) at \(error.source.begin)")
        } catch {
            throw ConfigError.syntax(path: path, reason: "\(error)")
        }
    }

    let table: TOMLTable
    let prefix: String
    let path: String
    private var used: Set<String> = []

    public init(table: TOMLTable, prefix: String, path: String) {
        self.table = table
        self.prefix = prefix
        self.path = path
    }

    private func fail(_ key: String, _ expected: String) -> ConfigError {
        ConfigError.invalid(key: prefix + key, value: table[key].map { "\($0)" } ?? "nothing", expected: expected)
    }

    private mutating func read<T>(_ key: String, _ expected: String, _ extract: (any TOMLValueConvertible) -> T?,
                                  _ set: (T) throws -> Void) throws {
        used.insert(key)
        guard let value = table[key] else { return }
        guard let typed = extract(value) else { throw fail(key, expected) }
        try set(typed)
    }

    public mutating func string(_ key: String, _ set: (String) throws -> Void) throws {
        try read(key, "a string", { $0.string }, set)
    }

    public mutating func bool(_ key: String, _ set: (Bool) throws -> Void) throws {
        try read(key, "true or false", { $0.bool }, set)
    }

    public mutating func int(_ key: String, _ set: (Int) throws -> Void) throws {
        try read(key, "an integer", { $0.int }, set)
    }

    public mutating func double(_ key: String, _ set: (Double) throws -> Void) throws {
        try read(key, "a number", { $0.double ?? $0.int.map(Double.init) }, set)
    }

    public mutating func strings(_ key: String, _ set: ([String]) throws -> Void) throws {
        try read(key, "an array of strings", { value in
            guard let array = value.array else { return nil }
            let strings = array.compactMap { $0.string }
            return strings.count == array.count ? strings : nil
        }, set)
    }

    public mutating func table(_ key: String, _ body: (inout TableReader) throws -> Void) throws {
        used.insert(key)
        guard let value = table[key] else { return }
        guard let sub = value.table else { throw fail(key, "a table [\(key)]") }
        var reader = TableReader(table: sub, prefix: prefix + key + ".", path: path)
        try body(&reader)
        try reader.finish()
    }

    public mutating func tableArray(_ key: String, _ body: (inout TableReader) throws -> Void) throws {
        used.insert(key)
        guard let value = table[key] else { return }
        guard let array = value.array else { throw fail(key, "an array of tables [[\(key)]]") }
        for item in array {
            guard let sub = item.table else { throw fail(key, "an array of tables [[\(key)]]") }
            var reader = TableReader(table: sub, prefix: prefix + key + ".", path: path)
            try body(&reader)
            try reader.finish()
        }
    }

    public mutating func finish() throws {
        for key in table.keys where !used.contains(key) {
            throw ConfigError.unknownKey(path: path, key: prefix + key)
        }
    }
}
