import Foundation
@testable import Store
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

    /// A server started in another PID namespace (the daemon in a container or a sandbox, a command on the host) is
    /// invisible to `pg_ctl status`, whose PID means nothing here: the command adopts the server answering on the
    /// socket instead of starting a second postmaster on the same data directory.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.fileExists(atPath: "/usr/bin/unshare"), "needs root and unshare"))
    func aServerInAnotherPIDNamespaceIsAdoptedNotStartedTwice() throws {
        let dir = TemporaryDirectory("emb-ns")
        let pg = dir.file("pg")
        let cluster = EmbeddedCluster(directory: URL(fileURLWithPath: pg), durable: false)
        let url = try cluster.start()
        cluster.stop(force: true)
        // The same server, started by a process whose PID namespace this one cannot see into.
        let bin = try #require(try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql").sorted().last)
        let start = "/usr/lib/postgresql/\(bin)/bin/pg_ctl -D \(pg)/data -l \(pg)/other.log -w -o '-k \(pg)/run -p 5432 -c listen_addresses= -c unix_socket_permissions=0700' start && sleep 600"
        let other = try DaemonProcess(executable: "/usr/bin/unshare",
                                      arguments: ["--pid", "--fork", "runuser", "-u", "postgres", "--", "sh", "-c", start],
                                      logPath: dir.file("other.out"))
        defer { other.kill9() }
        #expect(try eventually(timeout: 30) { (try? PGConnection(url: url)) != nil }, "\(other.log)")
        let pidFile = try String(contentsOfFile: pg + "/data/postmaster.pid", encoding: .utf8)

        let command = EmbeddedCluster(directory: URL(fileURLWithPath: pg), durable: false)
        #expect(try command.start() == url)
        #expect(try String(contentsOfFile: pg + "/data/postmaster.pid", encoding: .utf8) == pidFile, "a second postmaster was started")
        // Done, it leaves that server to its owner (the PID pg_ctl stop would signal is not that server's here).
        command.stop()
        #expect(try PGConnection(url: url).query(Statement("test.one", "SELECT 1 AS one")).count == 1)
    }
}
