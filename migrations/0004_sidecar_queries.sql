-- Per-image questions from sidecar files (`photo.jpg.json` beside `photo.jpg`): the image keeps the questions of the
-- arrival that created it (asked by the detect stage); every arrival keeps what its sidecar held, as evidence —
-- the validated questions, or {"error": …, "raw": …} when the sidecar was malformed.

ALTER TABLE images ADD COLUMN queries jsonb;
ALTER TABLE image_arrivals ADD COLUMN sidecar jsonb;

-- Sidecars that could not be used: the image was processed with its inbox's defaults instead.
CREATE VIEW sidecar_errors AS
SELECT a.inbox, a.original_name, a.arrived_at, a.sidecar ->> 'error' AS error, a.sidecar ->> 'raw' AS raw, a.image_id
FROM image_arrivals a
WHERE a.sidecar ? 'error';
