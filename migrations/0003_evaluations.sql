-- Evaluation runs: `pipelined eval --images` stores each run's metrics and per-category AP, so a model's accuracy
-- on a dataset is queryable next to the detections it makes.

CREATE TABLE evaluation_runs (
    id                  bigserial PRIMARY KEY,
    model_name          text NOT NULL,
    model_version       text NOT NULL,
    weights_sha256      text NOT NULL,
    annotations_path    text NOT NULL,
    annotations_sha256  text NOT NULL,
    protocol            text NOT NULL CHECK (protocol IN ('standard', 'fixed_ap')),
    settings            jsonb NOT NULL,   -- template, top_n, nms_iou, max_dets / top_k, images dir …
    images              integer NOT NULL,
    metrics             jsonb NOT NULL,   -- {"AP": …, "AP50": …, "APr": …, "AR@300": …}; −1 where undefined
    seconds             double precision NOT NULL,
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE evaluation_category_ap (
    run_id          bigint NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
    category_id     integer NOT NULL,   -- the id in the annotation file
    category_name   text NOT NULL,
    frequency       text,               -- r / c / f
    ap              double precision,   -- NULL when the category had nothing to score
    PRIMARY KEY (run_id, category_id)
);

-- One row per run with the headline metrics as columns.
CREATE VIEW evaluation_summary AS
SELECT id AS run_id, model_name, model_version, protocol, images,
       (metrics ->> 'AP')::double precision AS ap, (metrics ->> 'AP50')::double precision AS ap50,
       (metrics ->> 'AP75')::double precision AS ap75, (metrics ->> 'APr')::double precision AS apr,
       (metrics ->> 'APc')::double precision AS apc, (metrics ->> 'APf')::double precision AS apf,
       annotations_path, settings, seconds, finished_at
FROM evaluation_runs;
