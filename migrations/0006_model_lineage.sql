-- Model lineage (issue 6): where each model version's files are, what it was trained from and on, how it scored,
-- and why it is active, retired or rejected. Fine-tuning runs are rows too, so a restarted daemon resumes them.

ALTER TABLE models
    ADD COLUMN path            text,          -- the model directory (manifest.json, model.safetensors, …)
    ADD COLUMN label_snapshot  jsonb,         -- the labels a fine-tuned version learned from
    ADD COLUMN hyperparameters jsonb,
    ADD COLUMN replaced_by     bigint REFERENCES models (id),   -- the version that took over when this one was retired
    ADD COLUMN status_changed_at timestamptz;

CREATE TABLE fine_tune_runs (
    id                 bigserial PRIMARY KEY,
    parent_model_id    bigint NOT NULL REFERENCES models (id),
    candidate_model_id bigint REFERENCES models (id),
    status             text NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'promoted', 'rejected', 'failed')),
    trigger            text NOT NULL,             -- what started it: "42 new labelled images", "schedule", "operator"
    label_snapshot     jsonb NOT NULL,            -- {"upto_import": id, "train_images": n, "heldout_images": n}
    hyperparameters    jsonb NOT NULL,
    checkpoint_path    text NOT NULL,             -- resumable state of a running run
    steps_done         integer NOT NULL DEFAULT 0,
    steps_total        integer NOT NULL CHECK (steps_total > 0),
    metrics            jsonb NOT NULL DEFAULT '{}',  -- {"candidate": {...}, "parent": {...}} on the held-out labels
    reason             text,                      -- the gate's verdict, or why the run failed
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE UNIQUE INDEX fine_tune_runs_one_running ON fine_tune_runs ((true)) WHERE status = 'running';

-- Every model version with its parent and headline metrics, newest first.
CREATE VIEW model_lineage AS
SELECT m.id, m.name, m.version, m.status, m.status_reason, p.name || '@' || p.version AS parent,
       (m.metrics ->> 'AP')::double precision AS ap, (m.metrics ->> 'APr')::double precision AS apr,
       (m.metrics ->> 'APc')::double precision AS apc, (m.metrics ->> 'APf')::double precision AS apf,
       m.label_snapshot, m.hyperparameters, m.path, m.created_at, m.status_changed_at
FROM models m LEFT JOIN models p ON p.id = m.parent_id
ORDER BY m.created_at DESC, m.id DESC;
