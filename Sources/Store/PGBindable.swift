import Foundation

/// A value that can be passed as a statement parameter. Parameters travel in PostgreSQL's text format; the SQL
/// casts them (`$1::bigint`) where the type is not obvious to the server.
public protocol PGBindable: Sendable {
    var pgText: String { get }
}

extension String: PGBindable { public var pgText: String { self } }
extension Int: PGBindable { public var pgText: String { String(self) } }
extension Int32: PGBindable { public var pgText: String { String(self) } }
extension Int64: PGBindable { public var pgText: String { String(self) } }
extension Double: PGBindable { public var pgText: String { self.isFinite ? String(self) : (self.isNaN ? "NaN" : (self > 0 ? "Infinity" : "-Infinity")) } }
extension Float: PGBindable { public var pgText: String { Double(self).pgText } }
extension Bool: PGBindable { public var pgText: String { self ? "true" : "false" } }

extension Array: PGBindable where Element: PGBindable {
    /// A one-dimensional array literal, every element quoted.
    public var pgText: String {
        let items = map { item -> String in
            let escaped = item.pgText.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\""
        }
        return "{" + items.joined(separator: ",") + "}"
    }
}

/// JSON text for a `jsonb` parameter.
public struct JSONParam: PGBindable {
    public let pgText: String

    public init(_ object: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("null".utf8)
        pgText = String(decoding: data, as: UTF8.self)
    }
}
