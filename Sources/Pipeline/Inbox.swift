import Foundation

/// A watched directory and how to name files in it.
struct Inbox: Sendable {
    let config: InboxConfig
    let root: String   // standardized, no trailing slash

    init(_ config: InboxConfig) {
        self.config = config
        var root = URL(fileURLWithPath: config.path).standardizedFileURL.path
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    /// The path relative to this inbox, or nil if `path` is not inside it.
    func relativePath(of path: String) -> String? {
        guard path.hasPrefix(root + "/") else { return nil }
        return String(path.dropFirst(root.count + 1))
    }
}
