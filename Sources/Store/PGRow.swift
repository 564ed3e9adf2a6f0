import Foundation

/// One row of a result, in text format, with typed accessors that fail with the statement and column named.
struct PGRow: Sendable {
    let statement: String
    let columns: [String: Int]
    let values: [String?]

    subscript(_ column: String) -> String? {
        guard let index = columns[column] else { return nil }
        return values[index]
    }

    func string(_ column: String) throws -> String {
        guard let value = self[column] else { throw StoreError.decode(statement: statement, column: column, value: nil) }
        return value
    }

    func int(_ column: String) throws -> Int {
        let text = try string(column)
        guard let value = Int(text) else { throw StoreError.decode(statement: statement, column: column, value: text) }
        return value
    }

    func optionalInt(_ column: String) throws -> Int? {
        guard let text = self[column] else { return nil }
        guard let value = Int(text) else { throw StoreError.decode(statement: statement, column: column, value: text) }
        return value
    }

    func double(_ column: String) throws -> Double {
        let text = try string(column)
        guard let value = Double(text) else { throw StoreError.decode(statement: statement, column: column, value: text) }
        return value
    }

    func bool(_ column: String) throws -> Bool {
        let text = try string(column)
        switch text {
        case "t", "true": return true
        case "f", "false": return false
        default: throw StoreError.decode(statement: statement, column: column, value: text)
        }
    }

    /// A `timestamptz` rendered by the server with `extract(epoch from …)` as seconds.
    func date(_ column: String) throws -> Date {
        Date(timeIntervalSince1970: try double(column))
    }
}
