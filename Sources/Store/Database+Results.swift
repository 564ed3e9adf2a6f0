extension Database {
    static let lockLease = Statement("results.lock_lease", """
        SELECT id FROM jobs WHERE id = $1::bigint AND state = 'running' AND lease_owner = $2 FOR UPDATE
        """)
    static let insertProvenance = Statement("results.insert_provenance", """
        INSERT INTO provenance (job_id, image_id, model_id, model_version, weights_sha256, vocabulary_id,
                                vocabulary_version, code_version, host, worker, attempt, timings_ms, settings)
        VALUES ($1::bigint, $2::bigint,
                coalesce($3::bigint, (SELECT id FROM models WHERE name || '@' || version = $4 AND weights_sha256 = $5 LIMIT 1)),
                $4, $5, $6::bigint, $7::int, $8, $9, $10, $11::int,
                $12::jsonb, $13::jsonb)
        RETURNING id
        """)
    static let markImageDecoded = Statement("results.mark_image_decoded", """
        UPDATE images SET status = 'decoded', width = $2::int, height = $3::int WHERE id = $1::bigint
        """)
    static let finishJob = Statement("results.finish_job", """
        UPDATE jobs SET state = 'done', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1::bigint
        """)

    /// Stores a job's results and marks it done, all in one transaction: the detections (by COPY), the provenance
    /// row, the image's dimensions. Returns false, storing nothing, when the job's lease is no longer `owner`'s —
    /// another worker has it now, and only one set of results may exist.
    @discardableResult
    public func recordResults(for job: ClaimedJob, owner: String, width: Int, height: Int,
                              detections: [DetectionRow], provenance: ProvenanceRow) throws -> Bool {
        try transaction { conn in
            guard !(try conn.query(Self.lockLease, [job.jobID, owner])).isEmpty else { return false }
            let p = provenance
            let provenanceID = try conn.query(Self.insertProvenance, [
                job.jobID, job.imageID, p.modelID, p.modelVersion, p.weightsSHA256, p.vocabularyID,
                p.vocabularyVersion, p.codeVersion, p.host, owner, job.attempt,
                JSONParam(p.timingsMS), JSONParam(p.settings),
            ]).first.map { try $0.int("id") }
            guard let provenanceID else {
                throw StoreError.query(statement: Self.insertProvenance.name, sqlState: "XX000",
                                       message: "no provenance id returned", detail: nil)
            }
            if !detections.isEmpty {
                try conn.copy(into: "detections",
                              columns: ["image_id", "provenance_id", "category_id", "label", "prompt", "score",
                                        "x0", "y0", "x1", "y1"],
                              rows: detections.map { d in
                                  [job.imageID, provenanceID, d.categoryID, d.label, d.prompt, d.score,
                                   d.box.x0, d.box.y0, d.box.x1, d.box.y1]
                              })
            }
            try conn.query(Self.markImageDecoded, [job.imageID, width, height])
            try conn.query(Self.finishJob, [job.jobID])
            return true
        }
    }
}

extension Database {
    static let updateTimings = Statement("results.update_timings", """
        UPDATE provenance SET timings_ms = $2::jsonb WHERE job_id = $1::bigint
        """)

    /// Replaces a job's provenance timings (the record stage adds its own time and the total after committing).
    public func updateTimings(jobID: Int, timingsMS: [String: Double]) throws {
        try query(Self.updateTimings, [jobID, JSONParam(timingsMS)])
    }
}
