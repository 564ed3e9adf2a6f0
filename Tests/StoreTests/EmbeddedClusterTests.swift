import Foundation
import Store
import TestSupport
import Testing

@Suite struct EmbeddedClusterTests {
    @Test func createsStartsAdoptsAndStops() throws {
        let dir = TemporaryDirectory("emb")
        let cluster = EmbeddedCluster(directory: URL(fileURLWithPath: dir.file("pg")), durable: false)
        let url = try cluster.start()
        let conn = try PGConnection(url: url)
        #expect(try conn.query(Statement("test.one", "SELECT 1 AS one")).first?.int("one") == 1)
        // The socket is the only way in: no TCP listener.
        #expect(try conn.query(Statement("test.listen", "SELECT current_setting('listen_addresses') AS l")).first?.string("l") == "")

        // A second instance (e.g. `pipelined status` while the daemon runs) adopts the server and leaves it running.
        let second = EmbeddedCluster(directory: URL(fileURLWithPath: dir.file("pg")), durable: false)
        #expect(try second.start() == url)
        second.stop()
        #expect(try conn.query(Statement("test.one", "SELECT 1 AS one")).count == 1)

        cluster.stop()
        #expect(throws: StoreError.self) { _ = try PGConnection(url: url) }
    }
}
