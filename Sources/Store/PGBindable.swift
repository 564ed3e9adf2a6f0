import Foundation

/// A value that can be passed as a statement parameter. Parameters travel in PostgreSQL's text format; the SQL
/// casts them (`$1::bigint`) where the type is not obvious to the server.
protocol PGBindable: Sendable {
    var pgText: String { get }
}

extension String: PGBindable { var pgText: String { self } }
extension Int: PGBindable { var pgText: String { String(self) } }
extension Int32: PGBindable { var pgText: String { String(self) } }
extension Int64: PGBindable { var pgText: String { String(self) } }
extension Double: PGBindable { var pgText: String { self.isFinite ? String(self) : (self.isNaN ? "NaN" : (self > 0 ? "Infinity" : "-Infinity")) } }
extension Float: PGBindable { var pgText: String { Double(self).pgText } }
extension Bool: PGBindable { var pgText: String { self ? "true" : "false" } }

extension Array: PGBindable where Element: PGBindable {
    /// A one-dimensional array literal, every element quoted.
    var pgText: String {
        let items = map { item -> String in
            let escaped = item.pgText.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\""
        }
        return "{" + items.joined(separator: ",") + "}"
    }
}

/// JSON text for a `jsonb` parameter.
struct JSONParam: PGBindable {
    let pgText: String

    init(_ object: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("null".utf8)
        pgText = String(decoding: data, as: UTF8.self)
    }
}
