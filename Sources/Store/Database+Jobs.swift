import Foundation

/// The job queue. Claims use `FOR UPDATE SKIP LOCKED` so any number of workers in any number of daemons share
/// the table without blocking each other; a lease bounds how long a dead worker can hold a job.
extension Database {
    /// Runnable jobs whose bytes this worker can read: in its archive (`$4`), from before archives had ids, or any
    /// when the worker names no archive.
    static let claimable = """
        j.state IN ('available', 'retryable') AND j.run_after <= now()
        AND ($4::text IS NULL OR i.archive_id IS NULL OR i.archive_id = $4::text)
        """

    static func claimStatement(name: String, suspects: Bool) -> Statement {
        // While a suspect waits, ordinary claims take nothing: the worker drains and then runs the suspect alone.
        let filter = suspects ? "j.suspect" : """
            NOT j.suspect AND NOT EXISTS (
                SELECT 1 FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.suspect AND \(claimable))
            """
        return Statement(name, """
            WITH next AS (
                SELECT j.id FROM jobs j JOIN images i ON i.id = j.image_id
                WHERE \(claimable) AND \(filter)
                ORDER BY j.priority, j.run_after, j.id  -- lower priority value runs first
                LIMIT $2::int
                FOR UPDATE OF j SKIP LOCKED),
            claimed AS (
                UPDATE jobs j
                SET state = 'running', attempt = j.attempt + 1, lease_owner = $1,
                    lease_expires_at = now() + make_interval(secs => $3::float8), attempted_at = now()
                FROM next WHERE j.id = next.id
                RETURNING j.id, j.image_id, j.attempt, j.max_attempts,
                          greatest(extract(epoch FROM now() - j.run_after), 0)::float8 AS queued_seconds)
            SELECT c.id, c.image_id, c.attempt, c.max_attempts, c.queued_seconds, i.sha256, i.archive_path, i.format,
                   i.inbox, i.original_name, i.queries::text AS queries
            FROM claimed c JOIN images i ON i.id = c.image_id
            ORDER BY c.id
            """)
    }
    static let claim = claimStatement(name: "jobs.claim", suspects: false)
    static let claimSuspect = claimStatement(name: "jobs.claim_suspect", suspects: true)

    /// Claims up to `limit` runnable jobs for `owner`, leased for `lease` seconds: none while a suspect (a job that
    /// was in flight when its worker died) waits. `archiveID` names the archive whose bytes this worker can read.
    public func claimJobs(owner: String, limit: Int, lease: Double, archiveID: String? = nil) throws -> [ClaimedJob] {
        guard limit > 0 else { return [] }
        return try query(Self.claim, [owner, limit, lease, archiveID]).map(ClaimedJob.init)
    }

    /// Claims one suspect, to be run alone: if its worker dies again, the death is its own.
    public func claimSuspect(owner: String, lease: Double, archiveID: String? = nil) throws -> ClaimedJob? {
        try query(Self.claimSuspect, [owner, 1, lease, archiveID]).first.map(ClaimedJob.init)
    }

    static let retry = Statement("jobs.retry", """
        UPDATE jobs
        SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END,
            run_after = now() + make_interval(secs => $4::float8),
            finished_at = CASE WHEN attempt >= max_attempts THEN now() END,
            lease_owner = NULL, lease_expires_at = NULL,
            suspect = false,  -- it failed without taking its worker down: no longer suspected of crashing it
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
            lease_owner = NULL, lease_expires_at = NULL, suspect = true
        WHERE state = 'running' AND lease_expires_at < now()
        RETURNING id
        """)

    /// Returns jobs whose lease expired (their worker died) to the queue as suspects. Returns how many.
    @discardableResult
    public func rescueExpiredJobs() throws -> Int {
        try query(Self.rescue).count
    }
}

// MARK: - Workers that died

extension Database {
    static let runningJob = Statement("jobs.running_job", """
        SELECT j.id, j.image_id, j.attempt, j.max_attempts, j.deaths, i.sha256, i.archive_path, i.format, i.inbox,
               i.original_name, i.queries::text AS queries
        FROM jobs j JOIN images i ON i.id = j.image_id
        WHERE j.id = $1::bigint AND j.state = 'running' AND j.lease_owner = $2
        """)

    /// A job still leased by `owner` (a worker known to be dead), with the number of times a worker died while
    /// running it alone.
    public func runningJob(_ jobID: Int, owner: String) throws -> (job: ClaimedJob, deaths: Int)? {
        try query(Self.runningJob, [jobID, owner]).first.map { (try ClaimedJob($0), try $0.int("deaths")) }
    }

    static let returnDead = Statement("jobs.return_dead", """
        UPDATE jobs
        SET state = CASE WHEN attempt > 1 THEN 'retryable' ELSE 'available' END,
            attempt = attempt - 1, run_after = now(), suspect = true, deaths = deaths + $5::int,
            lease_owner = NULL, lease_expires_at = NULL,
            errors = errors || jsonb_build_object('attempt', attempt, 'at', now(), 'stage', $3::text,
                                                  'message', $4::text, 'worker', $2::text)
        WHERE state = 'running' AND lease_owner = $2 AND (cardinality($1::bigint[]) = 0 OR id = ANY($1::bigint[]))
        RETURNING id
        """)

    /// Returns jobs of a dead worker (`jobIDs`, or all of them when empty) to the queue as suspects, without
    /// spending an attempt: the death is not known to be theirs. `death` adds to their count of deaths while alone.
    @discardableResult
    public func returnDeadWorkerJobs(_ jobIDs: [Int], owner: String, stage: String, message: String,
                                     death: Int = 0) throws -> Int {
        try query(Self.returnDead, [jobIDs, owner, stage, message, death]).count
    }

    static let runningOwners = Statement("jobs.running_owners", """
        SELECT DISTINCT lease_owner FROM jobs WHERE state = 'running' AND starts_with(lease_owner, $1)
        """)

    /// Workers holding leases whose identity starts with `prefix` (this host's name and a colon).
    public func leaseOwners(prefix: String) throws -> [String] {
        try query(Self.runningOwners, [prefix]).map { try $0.string("lease_owner") }
    }
}

extension ClaimedJob {
    init(_ row: PGRow) throws {
        self.init(jobID: try row.int("id"), imageID: try row.int("image_id"), attempt: try row.int("attempt"),
                  maxAttempts: try row.int("max_attempts"), sha256: try row.string("sha256"),
                  archivePath: try row.string("archive_path"), format: try row.string("format"),
                  inbox: try row.string("inbox"), originalName: try row.string("original_name"),
                  queries: row["queries"], queuedSeconds: row["queued_seconds"].flatMap(Double.init) ?? 0)
    }
}
