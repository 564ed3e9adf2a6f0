/// A named SQL statement. Every query the daemon runs is one of these: the name identifies it in errors and logs
/// and is the name it is prepared under on each connection.
public struct Statement: Sendable, Hashable {
    public let name: String
    public let sql: String

    public init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}
