/// An image as ingest describes it, before it has a row.
public struct NewImage: Sendable {
    public var sha256: String
    public var inbox: String
    public var originalName: String   // path relative to the inbox
    public var archivePath: String    // relative to the archive root
    public var byteSize: Int
    public var format: String         // jpeg | png | unknown (by magic bytes)
    /// The questions of the image's sidecar (validated, JSON), asked when this arrival creates the image.
    public var queries: String?
    /// What the arrival's sidecar held, kept as evidence: the queries, or `{"error", "raw"}` when it was malformed.
    public var sidecar: String?
    /// The id of the archive holding the bytes (its `.archive-id`); workers claim only jobs whose archive they read.
    public var archiveID: String?

    public init(sha256: String, inbox: String, originalName: String, archivePath: String, byteSize: Int, format: String,
                queries: String? = nil, sidecar: String? = nil, archiveID: String? = nil) {
        self.archiveID = archiveID
        self.queries = queries
        self.sidecar = sidecar
        self.sha256 = sha256
        self.inbox = inbox
        self.originalName = originalName
        self.archivePath = archivePath
        self.byteSize = byteSize
        self.format = format
    }
}

/// What recording an arrival did.
public enum IngestOutcome: Sendable, Equatable {
    /// New bytes: an image row and its job were created.
    case created(imageID: Int, jobID: Int)
    /// The bytes were already known; only the arrival (name, inbox) was recorded.
    case duplicate(imageID: Int)
}

/// A claimed job with what a worker needs to process its image.
public struct ClaimedJob: Sendable, Equatable {
    public let jobID: Int
    public let imageID: Int
    public let attempt: Int
    public let maxAttempts: Int
    public let sha256: String
    public let archivePath: String
    public let format: String
    public let inbox: String
    public let originalName: String
    /// The image's sidecar questions (JSON), if any.
    public var queries: String? = nil
    /// How long it waited to be claimed since it became available (arrival, or the retry time), in seconds.
    public var queuedSeconds: Double = 0
}
