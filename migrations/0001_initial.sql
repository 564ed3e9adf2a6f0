-- The initial schema: images and their arrivals, the job queue, models, vocabularies, detections and provenance.
-- Invariants live in CHECK constraints so that no code path can write an impossible state.

CREATE TABLE images (
    id              bigserial PRIMARY KEY,
    sha256          text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    original_name   text NOT NULL,              -- path relative to the inbox it first arrived in
    inbox           text NOT NULL,              -- the inbox's configured name
    archive_path    text NOT NULL,              -- relative to the archive root
    byte_size       bigint NOT NULL CHECK (byte_size >= 0),
    format          text NOT NULL CHECK (format IN ('jpeg', 'png', 'unknown')),
    width           integer CHECK (width > 0),
    height          integer CHECK (height > 0),
    status          text NOT NULL DEFAULT 'stored'
                    CHECK (status IN ('stored', 'decoded', 'quarantined')),
    quarantine_path text,                       -- relative to the quarantine root
    quarantine_reason text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'quarantined') = (quarantine_path IS NOT NULL AND quarantine_reason IS NOT NULL)),
    CHECK ((width IS NULL) = (height IS NULL))
);

-- Every time bytes arrive, under whatever name: duplicates collapse into one image but each arrival is kept.
CREATE TABLE image_arrivals (
    id            bigserial PRIMARY KEY,
    image_id      bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    inbox         text NOT NULL,
    original_name text NOT NULL,
    arrived_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (image_id, inbox, original_name)
);
CREATE INDEX image_arrivals_name ON image_arrivals (original_name);

CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    image_id         bigint NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,
    state            text NOT NULL DEFAULT 'available'
                     CHECK (state IN ('available', 'running', 'retryable', 'done', 'discarded', 'cancelled')),
    attempt          integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    priority         smallint NOT NULL DEFAULT 0,
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    errors           jsonb[] NOT NULL DEFAULT '{}',  -- one entry appended per failed attempt, never overwritten
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempted_at     timestamptz,
    finished_at      timestamptz,
    CHECK (attempt <= max_attempts),
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK ((state IN ('done', 'discarded', 'cancelled')) = (finished_at IS NOT NULL)),
    CHECK (state <> 'running' OR attempt > 0)
);
CREATE INDEX jobs_claimable ON jobs (priority, run_after, id) WHERE state IN ('available', 'retryable');
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';

CREATE TABLE models (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    version        text NOT NULL,
    weights_sha256 text NOT NULL CHECK (weights_sha256 ~ '^[0-9a-f]{64}$'),
    parent_id      bigint REFERENCES models (id),
    config         jsonb NOT NULL DEFAULT '{}',
    metrics        jsonb NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'candidate'
                   CHECK (status IN ('candidate', 'active', 'retired', 'rejected')),
    status_reason  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
CREATE UNIQUE INDEX models_one_active ON models ((true)) WHERE status = 'active';

CREATE TABLE vocabularies (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    version    integer NOT NULL CHECK (version > 0),
    source     text NOT NULL DEFAULT 'text' CHECK (source IN ('lvis', 'coco', 'text')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);

CREATE TABLE categories (
    id            bigserial PRIMARY KEY,
    vocabulary_id bigint NOT NULL REFERENCES vocabularies (id) ON DELETE CASCADE,
    external_id   integer,                       -- the id in the source file (LVIS/COCO category id)
    name          text NOT NULL,
    synonyms      text[] NOT NULL DEFAULT '{}',
    definition    text,
    frequency     text CHECK (frequency IN ('r', 'c', 'f')),
    image_count   integer CHECK (image_count >= 0),
    UNIQUE (vocabulary_id, name),
    UNIQUE (vocabulary_id, external_id)
);

-- What produced a job's results: one row per completed job.
CREATE TABLE provenance (
    id                 bigserial PRIMARY KEY,
    job_id             bigint NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
    image_id           bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    model_id           bigint REFERENCES models (id),
    model_version      text NOT NULL,
    weights_sha256     text NOT NULL,
    vocabulary_id      bigint REFERENCES vocabularies (id),
    vocabulary_version integer,
    code_version       text NOT NULL,
    host               text NOT NULL,
    worker             text NOT NULL,
    attempt            integer NOT NULL CHECK (attempt > 0),
    timings_ms         jsonb NOT NULL DEFAULT '{}',   -- per-stage wall time in milliseconds
    settings           jsonb NOT NULL DEFAULT '{}',   -- querying settings (thresholds, top-N, prompts)
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE detections (
    id            bigserial PRIMARY KEY,
    image_id      bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    provenance_id bigint NOT NULL REFERENCES provenance (id) ON DELETE CASCADE,
    category_id   bigint REFERENCES categories (id),
    label         text NOT NULL,                  -- the class name or phrase the box was found for
    prompt        text,                           -- the caption the model was asked
    score         real NOT NULL CHECK (score >= 0 AND score <= 1),
    x0 real NOT NULL, y0 real NOT NULL, x1 real NOT NULL, y1 real NOT NULL,  -- pixels of the oriented image
    CHECK (x1 >= x0 AND y1 >= y0)
);
CREATE INDEX detections_image ON detections (image_id);
CREATE INDEX detections_label ON detections (label);

-- Readable views for the common questions.

-- "What was found in this file?" — by any name the bytes arrived under.
CREATE VIEW detections_for_file AS
SELECT a.inbox, a.original_name, i.sha256, d.label, d.score, d.x0, d.y0, d.x1, d.y1, d.prompt,
       p.model_version, p.vocabulary_version, p.created_at AS detected_at, i.id AS image_id
FROM image_arrivals a
JOIN images i ON i.id = a.image_id
JOIN detections d ON d.image_id = i.id
JOIN provenance p ON p.id = d.provenance_id;

-- "What is still pending?"
CREATE VIEW pending_jobs AS
SELECT j.id AS job_id, i.inbox, i.original_name, i.sha256, j.state, j.attempt, j.max_attempts, j.priority,
       j.run_after, j.lease_owner, j.lease_expires_at, j.created_at,
       j.errors[array_upper(j.errors, 1)] ->> 'message' AS last_error
FROM jobs j JOIN images i ON i.id = j.image_id
WHERE j.state IN ('available', 'running', 'retryable');

-- "What failed and why?" — quarantined files and jobs that gave up.
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
WHERE j.state IN ('discarded', 'cancelled') AND i.status <> 'quarantined';
