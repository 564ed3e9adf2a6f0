import CLibPQ
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The embedded default: a private PostgreSQL cluster in the daemon's state directory, started from the system's
/// PostgreSQL binaries, reachable only through a Unix socket in a directory nobody else can enter.
///
/// PostgreSQL refuses to run as root, so when the daemon is root the cluster belongs to the `postgres` system user
/// and the server is started through `runuser`.
public final class EmbeddedCluster: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case binariesNotFound(searched: [String])
        case socketPathTooLong(String)
        case noUnprivilegedUser
        case command(String)

        public var description: String {
            switch self {
            case let .binariesNotFound(searched):
                return "no PostgreSQL server binaries (initdb, pg_ctl) found in \(searched.joined(separator: ", ")): install the postgresql package or configure database.url"
            case let .socketPathTooLong(path):
                return "the embedded cluster's socket path \(path) is longer than Unix sockets allow: choose a shorter state directory"
            case .noUnprivilegedUser:
                return "running as root needs the 'postgres' system user to own the embedded cluster (PostgreSQL refuses to run as root): install the postgresql package or run as an ordinary user"
            case let .command(message):
                return "embedded PostgreSQL: \(message)"
            }
        }
    }

    public let directory: URL
    public let databaseName: String
    private let logger: Logger
    private let durable: Bool
    /// Held shared by every process using the cluster (daemon and one-shot commands alike): the last one out,
    /// the only one able to turn it exclusive, stops the server.
    private var usage: FileLock?

    /// - Parameters:
    ///   - directory: where the cluster lives (`data/`, `run/` for the socket, `postgres.log`).
    ///   - durable: false skips fsync (tests only); a daemon's cluster is always durable.
    public init(directory: URL, databaseName: String = "pipelined", durable: Bool = true,
                logger: Logger = Logger(label: "pipelined.store")) {
        self.directory = directory.standardizedFileURL
        self.databaseName = databaseName
        self.durable = durable
        self.logger = logger
    }

    var dataDirectory: String { directory.appendingPathComponent("data").path }
    var socketDirectory: String { directory.appendingPathComponent("run").path }
    var logFile: String { directory.appendingPathComponent("postgres.log").path }
    static let port = 5432
    static let superuser = "pipelined"

    /// The libpq URL (keyword form) of the cluster's database.
    public var url: String {
        "host=\(socketDirectory) port=\(Self.port) user=\(Self.superuser) dbname=\(databaseName)"
    }

    /// Creates the cluster on first use, starts it unless it already runs (e.g. left behind by a killed daemon),
    /// and creates the database. Returns the URL to connect with.
    @discardableResult
    public func start() throws -> String {
        let bin = try Self.binaries()
        guard socketDirectory.utf8.count + 20 < 108 else { throw Failure.socketPathTooLong(socketDirectory) }
        let owner = try serverUser()
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        chmod(directory.path, 0o700)
        chmod(socketDirectory, 0o700)
        if let owner {
            try run(["chown", "-R", owner, directory.path], asServerUser: nil)
            // initdb would only say "Permission denied": say which user needs what.
            guard (try? run(["test", "-w", directory.path, "-a", "-x", directory.path], asServerUser: owner)) != nil else {
                throw Failure.command("the '\(owner)' user, which runs the embedded cluster when pipelined runs as root, cannot reach \(directory.path): a parent directory is not searchable by it (choose a state directory under /var/lib, or let others search the parents: chmod o+x)")
            }
        }
        if usage == nil {
            // Shared with every other user of this cluster; taken before the server starts so that a user finishing
            // meanwhile sees us and leaves it running.
            usage = try FileLock.tryLock(directory.appendingPathComponent("users.lock").path, .shared)
            if usage == nil { throw Failure.command("the cluster is being stopped by another process; try again") }
        }

        if !FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            logger.info("creating embedded PostgreSQL cluster", metadata: ["path": "\(dataDirectory)"])
            var initdb = [bin + "/initdb", "-D", dataDirectory, "-U", Self.superuser, "-A", "trust",
                          "-E", "UTF8", "--locale=C.UTF-8"]
            if !durable { initdb.append("--no-sync") }
            try run(initdb, asServerUser: owner)
        }
        if isRunning {
            logger.notice("adopting the embedded PostgreSQL server that is already running",
                          metadata: ["path": "\(dataDirectory)"])
        } else {
            // jit=off: LLVM's JIT needs writable executable memory, which the systemd unit forbids.
            var options = "-k \(socketDirectory) -p \(Self.port) -c listen_addresses= -c unix_socket_permissions=0700 -c jit=off"
            if !durable { options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" }
            try run([bin + "/pg_ctl", "-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-o", options, "start"],
                    asServerUser: owner)
            logger.info("embedded PostgreSQL started", metadata: ["socket": "\(socketDirectory)"])
        }
        try createDatabaseIfMissing()
        return url
    }

    /// Whether the server runs: its socket answers, or `pg_ctl status` says so. The socket first: a server started in
    /// another PID namespace (a daemon in a container or a sandbox) has a PID in `postmaster.pid` that means nothing
    /// here, and `pg_ctl status` alone would have a second postmaster started on the same data directory.
    public var isRunning: Bool {
        // Any answer counts, "starting up" and "too many connections" included (PQping's sense of running).
        let ping = PQping("host=\(socketDirectory) port=\(Self.port) user=\(Self.superuser) dbname=postgres connect_timeout=5")
        if ping == PQPING_OK || ping == PQPING_REJECT { return true }
        return isVisibleToPGCtl
    }

    /// `pg_ctl status`: a server whose postmaster this process's PID namespace sees (and `pg_ctl stop` can signal).
    private var isVisibleToPGCtl: Bool {
        guard let bin = try? Self.binaries(), let owner = try? serverUser() else { return false }
        return (try? run([bin + "/pg_ctl", "-D", dataDirectory, "status"], asServerUser: owner)) != nil
    }

    /// Starts the server again if it died (the postmaster was killed); returns whether it had to.
    public func restartIfStopped() throws -> Bool {
        guard !isRunning else { return false }
        logger.warning("embedded PostgreSQL is not running; restarting it", metadata: ["path": "\(dataDirectory)"])
        try start()
        return true
    }

    /// Stops the server with a fast shutdown (open transactions roll back, data is safe) when this process is its
    /// last user: a one-shot command that found a daemon's server leaves it running, and so does a daemon while a
    /// command still uses it (the command stops it when it finishes). `waitForOthers` seconds are given to other
    /// users to finish first. `force` stops it regardless (tests).
    public func stop(waitForOthers: Double = 0, force: Bool = false) {
        guard let usage else { return }
        defer { usage.release(); self.usage = nil }
        let deadline = Date().addingTimeInterval(waitForOthers)
        var last = usage.tryConvert(to: .exclusive)
        while !last && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
            last = usage.tryConvert(to: .exclusive)
        }
        guard last || force else {
            logger.info("embedded PostgreSQL left running: another process still uses it")
            return
        }
        // A failed conversion above dropped our shared lock, so another user finishing meanwhile may have found
        // itself last and stopped the server already.
        guard isRunning else { return }
        // Started in another PID namespace: the PID pg_ctl would signal is not that server's here. Its owner stops it.
        guard isVisibleToPGCtl else {
            logger.info("embedded PostgreSQL left running: it was started in another PID namespace")
            return
        }
        guard let bin = try? Self.binaries(), let owner = try? serverUser() else { return }
        do {
            try run([bin + "/pg_ctl", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"], asServerUser: owner)
            logger.info("embedded PostgreSQL stopped")
        } catch {
            logger.error("embedded PostgreSQL did not stop cleanly", metadata: ["error": "\(error)"])
        }
    }

    private static let existsStatement = Statement("embedded.database_exists",
                                                   "SELECT 1 FROM pg_database WHERE datname = $1")

    private func createDatabaseIfMissing() throws {
        let admin = try PGConnection(url: "host=\(socketDirectory) port=\(Self.port) user=\(Self.superuser) dbname=postgres")
        if try admin.query(Self.existsStatement, [databaseName]).isEmpty {
            // Identifiers cannot be parameters; the name is validated to be a plain identifier.
            precondition(databaseName.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
            do {
                try admin.command("CREATE DATABASE \(databaseName)", name: "embedded.create_database")
            } catch let error as StoreError where error.sqlState == "42P04" {
                // Another daemon created it first.
            }
        }
    }

    /// The user that owns and runs the cluster: nil for "whoever we are", `postgres` when we are root.
    private func serverUser() throws -> String? {
        guard geteuid() == 0 else { return nil }
        guard getpwnam("postgres") != nil else { throw Failure.noUnprivilegedUser }
        return "postgres"
    }

    private func run(_ arguments: [String], asServerUser user: String?) throws {
        let command = user.map { ["runuser", "-u", $0, "--"] + arguments } ?? arguments
        do {
            try ChildProcess.run(command)
        } catch let failure as ChildProcess.Failure {
            throw Failure.command(failure.description)
        }
    }

    /// Finds initdb and pg_ctl: the newest /usr/lib/postgresql/N/bin, else PATH.
    static func binaries() throws -> String {
        var searched: [String] = []
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { Int($0) }.sorted(by: >)
        for version in versions {
            let bin = "\(root)/\(version)/bin"
            searched.append(bin)
            if FileManager.default.isExecutableFile(atPath: bin + "/pg_ctl") { return bin }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            searched.append(String(dir))
            if FileManager.default.isExecutableFile(atPath: "\(dir)/pg_ctl"),
               FileManager.default.isExecutableFile(atPath: "\(dir)/initdb") { return String(dir) }
        }
        throw Failure.binariesNotFound(searched: searched)
    }
}
