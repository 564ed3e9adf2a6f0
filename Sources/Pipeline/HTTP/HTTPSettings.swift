import Foundation

/// The daemon's HTTP listener: metrics, health and readiness (and, later, results).
public struct HTTPSettings: Sendable, Equatable {
    /// `host:port`; empty turns the listener off. Loopback by default.
    public var listen = "127.0.0.1:8686"
    /// A file holding the token every request but `/healthz` must carry (`Authorization: Bearer …`); required when
    /// `listen` is not a loopback address.
    public var tokenFile: String?

    public init() {}

    /// (host, port) of `listen`, or nil when it is empty (the listener is off). `[::1]:8686` for IPv6.
    public func address() throws -> (host: String, port: Int)? {
        let text = listen.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            throw HTTPListenerError.badAddress(listen)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw HTTPListenerError.badAddress(listen) }
        return (host, port)
    }

    /// Whether `host` can only be reached from this machine.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

public enum HTTPListenerError: Error, CustomStringConvertible {
    case badAddress(String)
    case tokenRequired(String)
    case token(path: String, reason: String)
    case cannotListen(String, reason: String)

    public var description: String {
        switch self {
        case let .badAddress(text): return "http.listen '\(text)' is not host:port (e.g. 127.0.0.1:8686; empty turns the listener off)"
        case let .tokenRequired(listen):
            return "http.listen \(listen) is not a loopback address: set http.token_file to a file holding a secret token (every request but /healthz must send it), or listen on 127.0.0.1"
        case let .token(path, reason): return "http.token_file \(path): \(reason)"
        case let .cannotListen(listen, reason): return "cannot listen on \(listen): \(reason)"
        }
    }
}
