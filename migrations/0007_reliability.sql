-- Reliability (issue 13): inbox entries that are not files, jobs whose worker died, and archives that are not shared
-- between hosts.

-- Inbox entries pipelined refuses to open (symbolic links, FIFOs, sockets, devices, files it may not read). Each is
-- reported once per (name, inode); the entry stays where it is.
CREATE TABLE inbox_refusals (
    id            bigserial PRIMARY KEY,
    inbox         text NOT NULL,
    original_name text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('symlink', 'fifo', 'socket', 'device', 'unreadable', 'other')),
    reason        text NOT NULL,
    device        bigint NOT NULL,
    inode         bigint NOT NULL,
    seen_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (inbox, original_name, kind, device, inode)
);

-- A job that was running when its worker died is a suspect: it runs alone until it finishes, so a crash while it
-- runs is its own. `deaths` counts worker deaths while it ran alone without a crash signal (killed from outside,
-- e.g. by the OOM killer); two of those quarantine it too.
ALTER TABLE jobs
    ADD COLUMN suspect boolean NOT NULL DEFAULT false,
    ADD COLUMN deaths  integer NOT NULL DEFAULT 0 CHECK (deaths >= 0);
CREATE INDEX jobs_suspects ON jobs (run_after, id) WHERE suspect AND state IN ('available', 'retryable');

-- Which archive holds an image's bytes: the id in that archive directory's `.archive-id` file. Daemons sharing an
-- archive (a shared mount) see the same id; a daemon claims only jobs whose bytes it can read. NULL: an image from
-- before this migration, readable wherever its archive path exists.
ALTER TABLE images ADD COLUMN archive_id text;

DROP VIEW failures;
-- "What failed and why?" — quarantined files, jobs that gave up, and inbox entries that were refused.
CREATE VIEW failures AS
SELECT i.inbox, i.original_name, i.sha256, 'quarantined' AS kind, i.quarantine_reason AS reason,
       i.quarantine_path AS evidence, coalesce(j.finished_at, i.received_at) AS at, j.attempt
FROM images i LEFT JOIN jobs j ON j.image_id = i.id
WHERE i.status = 'quarantined'
UNION ALL
SELECT i.inbox, i.original_name, i.sha256, 'job ' || j.state AS kind,
       j.errors[array_upper(j.errors, 1)] ->> 'message' AS reason, i.archive_path AS evidence,
       j.finished_at AS at, j.attempt
FROM jobs j JOIN images i ON i.id = j.image_id
WHERE j.state IN ('discarded', 'cancelled') AND i.status <> 'quarantined'
UNION ALL
SELECT r.inbox, r.original_name, NULL AS sha256, 'refused ' || r.kind AS kind, r.reason,
       'left in the inbox' AS evidence, r.seen_at AS at, NULL AS attempt
FROM inbox_refusals r;
