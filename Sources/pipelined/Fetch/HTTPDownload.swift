import CCurl
import Foundation
import Pipeline

/// Why a download stopped. Each case says what a user can do about it.
enum DownloadError: Error, CustomStringConvertible {
    case http(url: String, status: Int)
    /// The server could not be reached or trusted (name, proxy, TLS, URL): another mirror may do.
    case unreachable(url: String, reason: String)
    case interrupted(url: String, reason: String, received: Int64, total: Int64?)
    case noSpace(directory: String, needed: Int64, free: Int64)
    case wrongSize(url: String, received: Int64, expected: Int64)
    case local(path: String, reason: String)

    var description: String {
        switch self {
        case let .http(url, status): return "\(url) answered HTTP \(status)"
        case let .interrupted(url, reason, received, total):
            return "download of \(url) stopped at \(Self.bytes(received))\(total.map { " of \(Self.bytes($0))" } ?? ""): \(reason); "
                + "run the same command again to resume from there"
        case let .noSpace(directory, needed, free):
            return "\(directory) has \(Self.bytes(free)) free, the download and its import need \(Self.bytes(needed)): free some space, or give another --state-dir"
        case let .wrongSize(url, received, expected):
            return "\(url) ended after \(Self.bytes(received)) of the \(Self.bytes(expected)) it announced"
        case let .unreachable(url, reason): return "\(url): \(reason)"
        case let .local(path, reason): return "\(path): \(reason)"
        }
    }

    static func bytes(_ n: Int64) -> String {
        n >= 1 << 30 ? String(format: "%.2f GiB", Double(n) / Double(1 << 30))
            : n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / Double(1 << 20)) : "\(n) bytes"
    }
}

/// One file over HTTP(S) through libcurl, resumable across attempts and across runs: the bytes go to
/// `<destination>.part` and what the server said about them (URL, validator, size) to `<destination>.part.json`, so
/// the next attempt asks only for the rest (`Range`, with `If-Range` so a file that changed on the server starts
/// again from zero instead of being spliced). Mirrors are tried in order. libcurl honours the proxy variables
/// (`https_proxy`, `http_proxy`, `ALL_PROXY`, `no_proxy`) and the system's CA certificates.
struct HTTPDownload {
    /// Where a partial download stands, kept beside it.
    struct Partial: Codable {
        var url: String
        var validator: String?
        var total: Int64?
    }

    var urls: [String]
    var destination: String
    /// Automatic resumptions after a transient failure (dropped connection, timeout, 5xx) before giving up.
    var retries = 5
    var retryDelay = 1.0
    /// Free space to leave beyond the file itself (what will be made from it).
    var reserve: (_ total: Int64) -> Int64 = { _ in 0 }
    var progress: (_ received: Int64, _ total: Int64?) -> Void = { _, _ in }
    var log: (String) -> Void = { _ in }

    var partPath: String { destination + ".part" }
    var statePath: String { destination + ".part.json" }

    /// Downloads (or finishes downloading) into `destination`; returns the URL the bytes came from.
    @discardableResult
    func run() throws -> String {
        HTTPDownload.initializeOnce
        var lastError: DownloadError?
        for url in urls {
            if let lastError { log("\(lastError); trying the next mirror") }
            var attempt = 0
            while true {
                do {
                    try transfer(url)
                    try? FileManager.default.removeItem(atPath: statePath)
                    guard rename(partPath, destination) == 0 else {
                        throw DownloadError.local(path: destination, reason: String(cString: strerror(errno)))
                    }
                    return url
                } catch let error as DownloadError {
                    lastError = error
                    switch error {
                    case .noSpace, .local: throw error   // no mirror helps with a full or unwritable disk
                    default: break
                    }
                    guard Self.isTransient(error), attempt < retries else { break }
                    attempt += 1
                    let delay = retryDelay * Double(1 << min(attempt - 1, 5))
                    log("\(error); retrying in \(delay) s (attempt \(attempt) of \(retries))")
                    Thread.sleep(forTimeInterval: delay)
                }
            }
        }
        throw lastError ?? DownloadError.local(path: destination, reason: "no URL to download from")
    }

    static func isTransient(_ error: DownloadError) -> Bool {
        switch error {
        case .interrupted: return true
        case let .http(_, status): return [408, 425, 429, 500, 502, 503, 504].contains(status)
        case .wrongSize: return true
        case .noSpace, .local, .unreachable: return false
        }
    }

    /// One request for what is missing; throws what went wrong, leaving the part file to resume from.
    private func transfer(_ url: String) throws {
        var partial = (try? JSONDecoder().decode(Partial.self, from: Data(contentsOf: URL(fileURLWithPath: statePath))))
        // A part is continued only from the same URL, and only when the server gave a validator for it (without one a
        // changed file could not be told and would be spliced). Local files are copied again rather than resumed.
        if partial?.url != url || partial?.validator == nil || url.hasPrefix("file:") { partial = nil }
        let fd = open(partPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DownloadError.local(path: partPath, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        if partial == nil { ftruncate(fd, 0) }
        let offset = Int64(lseek(fd, 0, SEEK_END))
        if let total = partial?.total, offset == total { return }   // an earlier run got every byte
        if let total = partial?.total, offset > total { ftruncate(fd, 0); lseek(fd, 0, SEEK_SET) }
        let start = Int64(lseek(fd, 0, SEEK_END))

        // libcurl writes into this during perform: memory that lives until after the handle is cleaned up.
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        guard let handle = curl_easy_init() else { throw DownloadError.unreachable(url: url, reason: "libcurl could not start") }
        defer { curl_easy_cleanup(handle) }
        let context = Transfer(fd: fd, offset: start, url: url, partPath: partPath, statePath: statePath, directory: directory,
                               reserve: reserve, progress: progress)
        context.expectedTotal = start > 0 ? partial?.total : nil
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }

        ccurl_setopt_string(handle, CURLOPT_URL, url)
        ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
        ccurl_setopt_long(handle, CURLOPT_MAXREDIRS, 10)
        ccurl_setopt_long(handle, CURLOPT_FAILONERROR, 1)
        ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, 30)
        // A transfer that moves less than 1 KiB/s for a minute has stalled: give it up and resume.
        ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1024)
        ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, 60)
        ccurl_setopt_string(handle, CURLOPT_USERAGENT, "pipelined/\(PipelinedVersion.string)")
        ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        // No downgrade from https on a redirect.
        ccurl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, url.hasPrefix("https:") ? "https" : "http,https")
        if start > 0 {
            // CURLOPT_RANGE rather than RESUME_FROM: libcurl then hands over a 200 answer (the file changed, or the
            // server ignores ranges) instead of failing, and `begin` starts the part again from zero.
            ccurl_setopt_string(handle, CURLOPT_RANGE, "\(start)-")
            if let validator = partial?.validator { headers = curl_slist_append(headers, "If-Range: \(validator)") }
        }
        if let headers { ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headers)) }
        ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, unmanaged.toOpaque())
        ccurl_setopt_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            guard let data, let context else { return 0 }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
            Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().header(line)
            return size * count
        }
        ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        ccurl_setopt_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            guard let data, let context else { return 0 }
            return Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
                .write(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        context.handle = handle

        let code = curl_easy_perform(handle)
        var status = 0
        ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        if let failure = context.failure { throw failure }
        if code == CURLE_HTTP_RETURNED_ERROR {
            // Asked for the rest of a file that has no such rest: the part is stale; start again from zero at once.
            if status == 416, start > 0 {
                ftruncate(fd, 0)
                try? FileManager.default.removeItem(atPath: statePath)
                return try transfer(url)
            }
            throw DownloadError.http(url: url, status: status)
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let reason = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            switch code {
            case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT,
                 CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CACERT_BADFILE, CURLE_TOO_MANY_REDIRECTS,
                 CURLE_REMOTE_FILE_NOT_FOUND, CURLE_FILE_COULDNT_READ_FILE, CURLE_REMOTE_ACCESS_DENIED:
                throw DownloadError.unreachable(url: url, reason: reason)
            default:
                throw DownloadError.interrupted(url: url, reason: reason, received: context.received, total: context.total)
            }
        }
        if !context.started, status != 206 {
            // No body at all (an empty file, a 204): whatever an earlier attempt left is not this answer's.
            ftruncate(fd, 0)
            context.received = 0
            context.total = 0
        }
        if let total = context.total, context.received != total {
            throw DownloadError.wrongSize(url: url, received: context.received, expected: total)
        }
        guard status == 200 || status == 206 || (status == 0 && url.hasPrefix("file:")) else {
            throw DownloadError.http(url: url, status: status)
        }
    }

    private var directory: String { URL(fileURLWithPath: destination).deletingLastPathComponent().path }

    private static let initializeOnce: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()
}

/// The state of one request, reached from libcurl's callbacks.
private final class Transfer {
    let fd: Int32
    let offset: Int64
    let url: String
    let partPath: String
    let statePath: String
    let directory: String
    let reserve: (Int64) -> Int64
    let progress: (Int64, Int64?) -> Void
    var handle: UnsafeMutableRawPointer?
    /// Headers of the latest response (a redirect's are replaced by the next one's).
    var headers: [String: String] = [:]
    var started = false
    var received: Int64
    var total: Int64?
    /// What the part's earlier answer said the whole file was; a continuation must agree.
    var expectedTotal: Int64?
    var failure: DownloadError?

    init(fd: Int32, offset: Int64, url: String, partPath: String, statePath: String, directory: String,
         reserve: @escaping (Int64) -> Int64, progress: @escaping (Int64, Int64?) -> Void) {
        self.fd = fd
        self.offset = offset
        self.url = url
        self.partPath = partPath
        self.statePath = statePath
        self.directory = directory
        self.reserve = reserve
        self.progress = progress
        self.received = offset
    }

    func header(_ line: String) {
        if line.hasPrefix("HTTP/") { headers = [:]; return }
        guard let colon = line.firstIndex(of: ":") else { return }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Bytes of the body; 0 stops the transfer (libcurl then reports a write error and `failure` says why).
    func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        if !started {
            started = true
            guard begin() else { return 0 }
        }
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno == ENOSPC
                    ? .noSpace(directory: directory, needed: (total ?? received) - received, free: Self.freeSpace(directory))
                    : .local(path: partPath, reason: String(cString: strerror(errno)))
                return 0
            }
            done += n
        }
        received += Int64(done)
        progress(received, total)
        return bytes.count
    }

    /// The first body bytes of the final response: decide where they go and whether they fit.
    private func begin() -> Bool {
        var status = 0
        if let handle { ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status) }
        let length = headers["content-length"].flatMap { Int64($0) }
        if status == 206 {
            // "bytes 100-199/1000": it must continue exactly where the part ends.
            guard let range = headers["content-range"], let dash = range.firstIndex(of: "-"),
                  Int64(range.dropFirst("bytes ".count)[..<dash].trimmingCharacters(in: .whitespaces)) == offset else {
                failure = .interrupted(url: url, reason: "the server resumed at another offset (\(headers["content-range"] ?? "no Content-Range"))",
                                       received: offset, total: nil)
                ftruncate(fd, 0)
                try? FileManager.default.removeItem(atPath: statePath)
                return false
            }
            total = range.split(separator: "/").last.flatMap { Int64($0) } ?? length.map { offset + $0 }
            // The rest of another version of the file (a server that ignored If-Range): never spliced on.
            if let known = expectedTotal, total != known {
                failure = .interrupted(url: url, reason: "the file on the server is now \(total.map(String.init) ?? "?") bytes, not \(known); starting again",
                                       received: 0, total: total)
                ftruncate(fd, 0)
                try? FileManager.default.removeItem(atPath: statePath)
                return false
            }
        } else {
            // The whole file (the server ignored the range, or it changed since the part was written): from zero.
            if offset > 0 { ftruncate(fd, 0); lseek(fd, 0, SEEK_SET) }
            received = 0
            total = length
        }
        if let total {
            let needed = total - received + reserve(total)
            let free = Self.freeSpace(directory)
            if free < needed {
                failure = .noSpace(directory: directory, needed: needed, free: free)
                return false
            }
        }
        // A strong ETag, else Last-Modified, tells the next attempt whether the part is still the same file.
        let etag = headers["etag"].flatMap { $0.hasPrefix("W/") ? nil : $0 }
        let state = HTTPDownload.Partial(url: url, validator: etag ?? headers["last-modified"], total: total)
        do { try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: statePath), options: .atomic) } catch {
            failure = .local(path: statePath, reason: "\(error)")
            return false
        }
        return true
    }

    static func freeSpace(_ directory: String) -> Int64 {
        var s = statvfs()
        guard statvfs(directory, &s) == 0 else { return .max }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }
}
