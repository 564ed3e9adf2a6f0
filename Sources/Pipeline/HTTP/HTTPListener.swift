import Foundation
import Hummingbird
import Logging
import Store

/// The daemon's HTTP listener (Hummingbird on SwiftNIO): `/healthz` (the process answers), `/readyz` (store reachable,
/// watcher running, a model loaded — the reasons in the body when not), `/metrics` (Prometheus text) and the results
/// as JSON (`ResultsAPI`). Handlers
/// never block the event loops: the probes, which may wait on PostgreSQL, run on a Dispatch queue of their own.
/// Loopback by default; any other address needs a token, checked in constant time on every request but `/healthz`.
public final class HTTPListener: @unchecked Sendable {
    private let settings: HTTPSettings
    private let logger: Logger
    /// Why the daemon is not ready (empty: ready).
    private let readiness: @Sendable () -> [String]
    /// The metrics in Prometheus text format.
    private let metrics: @Sendable () -> String
    private var task: Task<Void, Never>?
    private let finished = DispatchSemaphore(value: 0)
    /// The port bound (useful with port 0).
    public private(set) var port: Int?
    private static let probes = DispatchQueue(label: "pipelined.http.probes", attributes: .concurrent)

    /// The results API reads from it (nil: metrics and probes only).
    private let database: Database?
    /// Uploads go through the daemon's ingest (nil: no `POST /api/images`), at most `maxUploadBytes` each.
    private let upload: UploadAPI.Ingest?
    private let maxUploadBytes: Int
    /// Where archived images are read from for the results page (nil: no page).
    private let archiveRoot: String?

    public init(settings: HTTPSettings, logger: Logger, database: Database? = nil,
                upload: (@Sendable (Data, String, String?) throws -> UploadReceipt)? = nil, maxUploadBytes: Int = 64 << 20,
                archiveRoot: String? = nil,
                readiness: @escaping @Sendable () -> [String], metrics: @escaping @Sendable () -> String) {
        self.settings = settings
        self.archiveRoot = archiveRoot
        self.database = database
        self.upload = upload
        self.maxUploadBytes = maxUploadBytes
        self.logger = logger
        self.readiness = readiness
        self.metrics = metrics
    }

    /// Binds and serves; throws when the address, the token or the bind is wrong. Does nothing when `listen` is empty.
    public func start() throws {
        guard let (host, port) = try settings.address() else { return }
        let token = try Self.token(settings, host: host)
        let router = Router()
        router.get("healthz") { _, _ in Self.text(.ok, "ok\n") }
        router.get("readyz") { [readiness] request, _ in
            guard Self.authorized(request, token) else { return Self.unauthorized }
            let reasons = await Self.offload(readiness)
            return reasons.isEmpty ? Self.text(.ok, "ready\n") : Self.text(.serviceUnavailable, "not ready: " + reasons.joined(separator: "; ") + "\n")
        }
        router.get("metrics") { [metrics] request, _ in
            guard Self.authorized(request, token) else { return Self.unauthorized }
            return Self.text(.ok, await Self.offload(metrics), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        if let database {
            ResultsAPI.register(on: router, database: database, token: token)
            if let archiveRoot { ResultsPage.register(on: router, database: database, archiveRoot: archiveRoot, token: token) }
        }
        if let upload { UploadAPI.register(on: router, maxBytes: maxUploadBytes, token: token, ingest: upload) }
        let started = DispatchSemaphore(value: 0)
        let outcome = LockedOutcome()
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "pipelined"),
                              onServerRunning: { channel in
                                  outcome.set(port: channel.localAddress?.port)
                                  started.signal()
                              }, logger: logger)
        let finished = self.finished
        task = Task {
            do { try await app.runService(gracefulShutdownSignals: []) } catch {
                outcome.set(error: error)
                started.signal()
            }
            finished.signal()
        }
        guard started.wait(timeout: .now() + 30) == .success, let bound = outcome.port else {
            task?.cancel()
            throw HTTPListenerError.cannotListen(settings.listen, reason: outcome.error.map { "\($0)" } ?? "the server did not start within 30 s")
        }
        self.port = bound
        logger.info("http listening", metadata: ["address": "\(host):\(bound)", "token": "\(token == nil ? "none (loopback)" : "required")"])
    }

    /// Stops accepting, lets requests in flight finish (a few seconds at most).
    public func stop() {
        guard let task else { return }
        task.cancel()
        _ = finished.wait(timeout: .now() + 5)
        self.task = nil
    }

    // MARK: - Helpers

    static func token(_ settings: HTTPSettings, host: String) throws -> [UInt8]? {
        guard let path = settings.tokenFile, !path.isEmpty else {
            if HTTPSettings.isLoopback(host) { return nil }
            throw HTTPListenerError.tokenRequired(settings.listen)
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw HTTPListenerError.token(path: path, reason: "cannot be read") }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.utf8.count >= 16 else { throw HTTPListenerError.token(path: path, reason: "holds fewer than 16 characters: too easy to guess") }
        return Array(token.utf8)
    }

    /// `Authorization: Bearer <token>`, compared without an early exit (no timing leak of how much matched).
    static func authorized(_ request: Request, _ token: [UInt8]?) -> Bool {
        guard let token else { return true }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.utf8.dropFirst(7))
        var difference = UInt8(given.count == token.count ? 0 : 1)
        for i in 0..<token.count { difference |= token[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    static var unauthorized: Response {
        var response = text(.unauthorized, "a token is required: Authorization: Bearer <token from http.token_file>\n")
        response.headers[.wwwAuthenticate] = "Bearer"
        return response
    }

    static func text(_ status: HTTPResponse.Status, _ body: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// Runs blocking work (PostgreSQL) off the event loops.
    static func offload<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in probes.async { continuation.resume(returning: body()) } }
    }
}

/// What the server task reports to `start`, which waits on another thread.
private final class LockedOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var _port: Int?
    private var _error: Error?
    var port: Int? { lock.lock(); defer { lock.unlock() }; return _port }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return _error }
    func set(port: Int?) { lock.lock(); _port = port; lock.unlock() }
    func set(error: Error) { lock.lock(); _error = error; lock.unlock() }
}
