/// A named SQL statement. Every query the daemon runs is one of these: the name identifies it in errors and logs
/// and is the name it is prepared under on each connection.
struct Statement: Sendable, Hashable {
    let name: String
    let sql: String

    init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}
