import Foundation

/// A small HTTP/1.1 file server on 127.0.0.1 for download tests: serves `files` by path with `ETag`, answers `Range:
/// bytes=N-` with 206 (or 200 when `If-Range` names another version), can drop the connection part-way through a body,
/// and accepts absolute-URI requests as a forward proxy receives them. Every request head is kept for the test to read.
public final class LoopbackHTTPServer: @unchecked Sendable {
    public let port: UInt16
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    private let listener: Int32
    private let lock = NSLock()
    private var files: [String: Data] = [:]
    private var etag: String? = "\"v1\""
    private var cuts: [Int] = []
    private var heads: [String] = []
    private var stopped = false

    public init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        // The thread holds the server weakly: when the test lets go of it, deinit closes the socket and the loop ends.
        Thread.detachNewThread { [weak self] in
            while true {
                let client = accept(listener, nil, nil)
                guard let server = self else { if client >= 0 { close(client) }; return }
                if client < 0 {
                    if server.locked({ server.stopped }) { return }
                    usleep(10_000)
                    continue
                }
                Thread.detachNewThread { server.handle(client) }
            }
        }
    }

    deinit { stop() }

    public func stop() {
        lock.lock()
        let wasStopped = stopped
        stopped = true
        lock.unlock()
        if !wasStopped { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
    }

    /// Serves `body` at `path`.
    public func serve(_ path: String, _ body: Data) { locked { files[path] = body } }
    public func remove(_ path: String) { locked { files[path] = nil } }
    /// The version every file is served under (a new one makes earlier parts stale); nil sends no validator at all.
    public func setETag(_ value: String?) { locked { etag = value } }
    /// The next responses with a body stop after these many body bytes and drop the connection, in order.
    public func dropConnections(after bytes: [Int]) { locked { cuts = bytes } }
    /// Every request head received, in order.
    public var requests: [String] { locked { heads } }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    private func handle(_ client: Int32) {
        defer { close(client) }
        var head = Data()
        var byte: UInt8 = 0
        while !head.ends(with: Data("\r\n\r\n".utf8)) {
            guard read(client, &byte, 1) == 1, head.count < 65_536 else { return }
            head.append(byte)
        }
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3 else { return }
        var target = String(parts[1])
        // A proxy is sent the absolute URI: keep its path.
        if let url = URL(string: target), url.scheme != nil { target = url.path }
        if let q = target.firstIndex(of: "?") { target = String(target[..<q]) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let (body, version, cut): (Data?, String?, Int?) = locked {
            heads.append(text)
            let body = files[target]
            let cut = body != nil && !cuts.isEmpty ? cuts.removeFirst() : nil
            return (body, etag, cut)
        }
        guard let body else {
            send(client, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found")
            return
        }
        var start = 0
        if let range = headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-"),
           let from = Int(range.dropFirst(6).dropLast()), headers["if-range"].map({ $0 == version }) ?? true {
            // A range is served even when the file is shorter: the client must cope with 416.
            guard from < body.count else {
                send(client, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */\(body.count)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            }
            start = from
        }
        let status = start > 0 ? "206 Partial Content" : "200 OK"
        var response = "HTTP/1.1 \(status)\r\nContent-Length: \(body.count - start)\r\nConnection: close\r\n"
        if let version { response += "ETag: \(version)\r\n" }
        if start > 0 { response += "Content-Range: bytes \(start)-\(body.count - 1)/\(body.count)\r\n" }
        send(client, response + "\r\n")
        let end = start + min(cut ?? .max, body.count - start)
        body[start..<end].withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Foundation.send(client, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                sent += n
            }
        }
        if end < body.count { shutdown(client, Int32(SHUT_RDWR)) }
    }

    private func send(_ client: Int32, _ text: String) {
        let data = Array(text.utf8)
        _ = data.withUnsafeBytes { Foundation.send(client, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}

private extension Data {
    func ends(with suffix: Data) -> Bool { count >= suffix.count && self[(endIndex - suffix.count)...] == suffix }
}
