import Foundation

/// The job queue. Claims use `FOR UPDATE SKIP LOCKED` so any number of workers in any number of daemons share
/// the table without blocking each other; a lease bounds how long a dead worker can hold a job.
extension Database {
    static let claim = Statement("jobs.claim", """
        WITH next AS (
            SELECT id FROM jobs
            WHERE state IN ('available', 'retryable') AND run_after <= now()
            ORDER BY priority, run_after, id  -- lower priority value runs first
            LIMIT $2::int
            FOR UPDATE SKIP LOCKED),
        claimed AS (
            UPDATE jobs j
            SET state = 'running', attempt = j.attempt + 1, lease_owner = $1,
                lease_expires_at = now() + make_interval(secs => $3::float8), attempted_at = now()
            FROM next WHERE j.id = next.id
            RETURNING j.id, j.image_id, j.attempt, j.max_attempts)
        SELECT c.id, c.image_id, c.attempt, c.max_attempts, i.sha256, i.archive_path, i.format, i.inbox,
               i.original_name, i.queries::text AS queries
        FROM claimed c JOIN images i ON i.id = c.image_id
        ORDER BY c.id
        """)

    /// Claims up to `limit` runnable jobs for `owner`, leased for `lease` seconds.
    public func claimJobs(owner: String, limit: Int, lease: Double) throws -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        return try query(Self.claim, [owner, limit, lease]).map { row in
            ClaimedJob(jobID: try row.int("id"), imageID: try row.int("image_id"), attempt: try row.int("attempt"),
                       maxAttempts: try row.int("max_attempts"), sha256: try row.string("sha256"),
                       archivePath: try row.string("archive_path"), format: try row.string("format"),
                       inbox: try row.string("inbox"), originalName: try row.string("original_name"),
                       queries: row["queries"])
        }
    }

    static let retry = Statement("jobs.retry", """
        UPDATE jobs
        SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END,
            run_after = now() + make_interval(secs => $4::float8),
            finished_at = CASE WHEN attempt >= max_attempts THEN now() END,
            lease_owner = NULL, lease_expires_at = NULL,
            errors = errors || jsonb_build_object('attempt', attempt, 'at', now(), 'stage', $5::text,
                                                  'message', $3::text, 'worker', $2::text)
        WHERE id = $1::bigint AND state = 'running' AND lease_owner = $2
        RETURNING state
        """)

    /// Records a failed attempt: retried after `delay` seconds, or discarded when attempts are used up.
    /// Returns the new state, or nil when the lease was no longer ours (the job was rescued meanwhile).
    @discardableResult
    public func retryJob(_ jobID: Int, owner: String, stage: String, error: String, delay: Double) throws -> String? {
        try query(Self.retry, [jobID, owner, error, delay, stage]).first.map { try $0.string("state") }
    }

    static let discard = Statement("jobs.discard", """
        UPDATE jobs
        SET state = 'discarded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
            errors = errors || jsonb_build_object('attempt', attempt, 'at', now(), 'stage', $4::text,
                                                  'message', $3::text, 'worker', $2::text)
        WHERE id = $1::bigint AND state = 'running' AND lease_owner = $2
        RETURNING id
        """)

    /// Gives up on a job for good (the input can never succeed).
    @discardableResult
    public func discardJob(_ jobID: Int, owner: String, stage: String, error: String) throws -> Bool {
        try !query(Self.discard, [jobID, owner, error, stage]).isEmpty
    }

    static let quarantineImage = Statement("jobs.quarantine_image", """
        UPDATE images SET status = 'quarantined', quarantine_path = $2, quarantine_reason = $3
        WHERE id = $1::bigint
        """)

    /// Discards the job and marks its image quarantined with the reason, in one transaction.
    /// Returns false (and changes nothing) when the lease was no longer ours.
    @discardableResult
    public func quarantine(_ job: ClaimedJob, owner: String, stage: String, path: String, reason: String) throws -> Bool {
        try transaction { conn in
            guard !(try conn.query(Self.discard, [job.jobID, owner, reason, stage])).isEmpty else { return false }
            try conn.query(Self.quarantineImage, [job.imageID, path, reason])
            return true
        }
    }

    static let release = Statement("jobs.release", """
        UPDATE jobs
        SET state = CASE WHEN attempt > 1 THEN 'retryable' ELSE 'available' END,
            attempt = attempt - 1, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ANY($1::bigint[]) AND state = 'running' AND lease_owner = $2
        """)

    /// Returns jobs this worker claimed but will not finish (shutdown) to the queue without spending an attempt.
    public func releaseJobs(_ jobIDs: [Int], owner: String) throws {
        guard !jobIDs.isEmpty else { return }
        try query(Self.release, [jobIDs, owner])
    }

    static let extend = Statement("jobs.extend_leases", """
        UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::float8)
        WHERE id = ANY($1::bigint[]) AND state = 'running' AND lease_owner = $2
        """)

    /// Keeps the leases of in-flight jobs alive while their worker is healthy.
    public func extendLeases(_ jobIDs: [Int], owner: String, lease: Double) throws {
        guard !jobIDs.isEmpty else { return }
        try query(Self.extend, [jobIDs, owner, lease])
    }

    static let rescue = Statement("jobs.rescue", """
        UPDATE jobs
        SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END,
            finished_at = CASE WHEN attempt >= max_attempts THEN now() END,
            errors = errors || jsonb_build_object('attempt', attempt, 'at', now(), 'stage', 'lease',
                'message', 'lease expired: worker ' || lease_owner || ' stopped without finishing',
                'worker', lease_owner),
            lease_owner = NULL, lease_expires_at = NULL
        WHERE state = 'running' AND lease_expires_at < now()
        RETURNING id
        """)

    /// Returns jobs whose lease expired (their worker died) to the queue. Returns how many.
    @discardableResult
    public func rescueExpiredJobs() throws -> Int {
        try query(Self.rescue).count
    }
}
