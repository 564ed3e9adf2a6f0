extension Database {
    static let insertImage = Statement("ingest.insert_image", """
        WITH inserted AS (
            INSERT INTO images (sha256, inbox, original_name, archive_path, byte_size, format, queries, archive_id)
            VALUES ($1, $2, $3, $4, $5::bigint, $6, $7::jsonb, $8)
            ON CONFLICT (sha256) DO NOTHING
            RETURNING id)
        SELECT id, true AS created FROM inserted
        UNION ALL
        SELECT id, false AS created FROM images WHERE sha256 = $1
        LIMIT 1
        """)
    static let enqueueJob = Statement("ingest.enqueue_job", """
        INSERT INTO jobs (image_id, max_attempts, priority) VALUES ($1::bigint, $2::int, $3::smallint)
        ON CONFLICT (image_id) DO NOTHING
        RETURNING id
        """)
    static let insertArrival = Statement("ingest.insert_arrival", """
        INSERT INTO image_arrivals (image_id, inbox, original_name, sidecar) VALUES ($1::bigint, $2, $3, $4::jsonb)
        ON CONFLICT (image_id, inbox, original_name) DO UPDATE SET sidecar = coalesce(EXCLUDED.sidecar, image_arrivals.sidecar)
        """)
    static let notifyJobs = Statement("ingest.notify", "SELECT pg_notify('pipelined_jobs', '')")

    /// The channel `notifyJobs` signals on; workers LISTEN on it as a wake-up hint.
    public static let jobsChannel = "pipelined_jobs"

    /// Records that `image`'s bytes arrived: in one transaction the image row (unless the bytes are known), its job,
    /// and the arrival under this name. Safe to repeat: a re-run after a crash changes nothing.
    public func recordArrival(_ image: NewImage, maxAttempts: Int, priority: Int = 0) throws -> IngestOutcome {
        try transaction { conn in
            // A concurrent ingest of the same bytes can commit between our insert (which then does nothing) and our
            // snapshot; the statement then returns no row and a retry sees the committed one.
            var row: PGRow?
            for _ in 0..<5 where row == nil {
                row = try conn.query(Self.insertImage, [image.sha256, image.inbox, image.originalName,
                                                        image.archivePath, image.byteSize, image.format, image.queries,
                                                        image.archiveID]).first
            }
            guard let row else {
                throw StoreError.query(statement: Self.insertImage.name, sqlState: "40001",
                                       message: "image row for \(image.sha256) not visible after insert", detail: nil)
            }
            let imageID = try row.int("id")
            try conn.query(Self.insertArrival, [imageID, image.inbox, image.originalName, image.sidecar])
            guard try row.bool("created") else { return .duplicate(imageID: imageID) }
            guard let job = try conn.query(Self.enqueueJob, [imageID, maxAttempts, priority]).first else {
                return .duplicate(imageID: imageID)
            }
            try conn.query(Self.notifyJobs)
            return .created(imageID: imageID, jobID: try job.int("id"))
        }
    }

    static let imageStatus = Statement("ingest.image_status", "SELECT status FROM images WHERE id = $1::bigint")

    /// stored | decoded | quarantined, or nil for an unknown id.
    public func imageStatus(_ imageID: Int) throws -> String? {
        try query(Self.imageStatus, [imageID]).first.map { try $0.string("status") }
    }
}

extension Database {
    static let recordRefusal = Statement("ingest.record_refusal", """
        INSERT INTO inbox_refusals (inbox, original_name, kind, reason, device, inode)
        VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint)
        ON CONFLICT (inbox, original_name, kind, device, inode) DO NOTHING
        RETURNING id
        """)

    /// Records an inbox entry pipelined will not open (a symbolic link, FIFO, socket, device or unreadable file).
    /// Returns whether this is the first report of that entry (same name, kind and inode), so it is logged once.
    @discardableResult
    public func recordRefusal(inbox: String, originalName: String, kind: String, reason: String,
                              device: UInt64, inode: UInt64) throws -> Bool {
        // bigint is signed; device and inode numbers are stored bit for bit.
        try !query(Self.recordRefusal, [inbox, originalName, kind, reason,
                                        Int(truncatingIfNeeded: device), Int(truncatingIfNeeded: inode)]).isEmpty
    }
}
