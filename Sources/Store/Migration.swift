import Crypto
import Foundation

/// One forward-only schema change, `migrations/NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// sha256 of the SQL text, recorded when applied so a later edit of an applied file is caught.
    public var checksum: String {
        SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Reads `NNNN_name.sql` files from a directory (used by tests to compare with the embedded copy).
    public static func load(directory: URL) throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        return try names.compactMap { file -> Migration? in
            guard file.hasSuffix(".sql"), let underscore = file.firstIndex(of: "_"),
                  let version = Int(file[..<underscore]) else { return nil }
            let name = String(file[file.index(after: underscore)...].dropLast(4))
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            return Migration(version: version, name: name, sql: sql)
        }
    }
}
