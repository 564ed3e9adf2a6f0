/// Which paths in an inbox are candidates for ingest: not hidden, not a partial download or editor temp file.
public struct InboxFilter: Sendable {
    public let ignoredSuffixes: [String]

    public init(ignoredSuffixes: [String]) {
        self.ignoredSuffixes = ignoredSuffixes.map { $0.lowercased() }
    }

    /// `relativePath` is relative to the inbox root; any hidden component hides the file.
    public func accepts(relativePath: String) -> Bool {
        let components = relativePath.split(separator: "/")
        guard let name = components.last else { return false }
        if components.contains(where: { $0.hasPrefix(".") }) { return false }
        let lower = name.lowercased()
        return !ignoredSuffixes.contains { lower.hasSuffix($0) }
    }
}
