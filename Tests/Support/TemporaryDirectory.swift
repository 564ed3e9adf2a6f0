import Foundation

/// A directory under /tmp removed when the value is released. Paths stay short (Unix socket limits).
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "pl") {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        chmod(path, 0o755)
    }

    public func file(_ relative: String) -> String { path + "/" + relative }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
