-- Labels users give (issue 6): LVIS/COCO files dropped into the labels inbox or rows inserted here directly. A file
-- is imported whole or not at all; every attempt, accepted or rejected, is a row of label_imports with its reason.

CREATE TABLE label_imports (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL,               -- the file's name in the labels inbox, or what inserted the rows
    sha256        text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    status        text NOT NULL CHECK (status IN ('imported', 'rejected')),
    reason        text,                        -- why a file was rejected
    evidence_path text,                        -- the rejected file, relative to the quarantine root
    vocabulary_id bigint REFERENCES vocabularies (id),
    images        integer NOT NULL DEFAULT 0 CHECK (images >= 0),
    annotations   integer NOT NULL DEFAULT 0 CHECK (annotations >= 0),
    received_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'rejected') = (reason IS NOT NULL))
);

-- One image's label set within a vocabulary: LVIS's image-level lists. Categories in none of them are never asked
-- during training or scored during evaluation. `split` is fixed when the image is first labelled, so a held-out
-- image stays held out.
CREATE TABLE label_sets (
    id                 bigserial PRIMARY KEY,
    import_id          bigint NOT NULL REFERENCES label_imports (id),   -- rows inserted by hand get one (trigger below)
    image_id           bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    vocabulary_id      bigint NOT NULL REFERENCES vocabularies (id),
    negative_ids       bigint[] NOT NULL DEFAULT '{}',   -- categories.id verified absent
    not_exhaustive_ids bigint[] NOT NULL DEFAULT '{}',   -- categories.id whose instances are not all boxed
    caption            text,                             -- grounding labels: the caption the spans index
    split              text NOT NULL CHECK (split IN ('train', 'heldout')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (image_id, vocabulary_id)
);

-- Label sets inserted by hand (no import_id, or no split) are recorded as an import of their own, and split like
-- imported ones: held out when the first 32 bits of the image's sha256 fall below 0.2 of their range (the default
-- labels.heldout_fraction).
CREATE FUNCTION label_sets_defaults() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.import_id IS NULL THEN
        INSERT INTO label_imports (source, status, vocabulary_id, images)
        VALUES ('sql (' || current_user || ')', 'imported', NEW.vocabulary_id, 1) RETURNING id INTO NEW.import_id;
    END IF;
    IF NEW.split IS NULL THEN
        SELECT CASE WHEN (('x' || substr(sha256, 1, 8))::bit(32)::int::bigint & 4294967295) < 0.2 * 4294967295
                    THEN 'heldout' ELSE 'train' END INTO NEW.split
        FROM images WHERE id = NEW.image_id;
    END IF;
    RETURN NEW;
END $$;

CREATE TABLE annotations (
    id           bigserial PRIMARY KEY,
    label_set_id bigint NOT NULL REFERENCES label_sets (id) ON DELETE CASCADE,
    category_id  bigint REFERENCES categories (id),  -- LVIS/COCO labels
    spans        int4range[],                        -- grounding labels: character spans of the caption
    x            double precision NOT NULL CHECK (x >= 0),
    y            double precision NOT NULL CHECK (y >= 0),
    w            double precision NOT NULL CHECK (w > 0),
    h            double precision NOT NULL CHECK (h > 0),
    CHECK ((category_id IS NULL) <> (spans IS NULL))
);
CREATE INDEX annotations_set ON annotations (label_set_id);

-- Rows inserted by hand get the same checks as imported files: the box lies inside its decoded image and the
-- category belongs to the label set's vocabulary.
CREATE FUNCTION annotations_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    img record;
    vocab bigint;
BEGIN
    SELECT i.width, i.height, i.original_name, s.vocabulary_id INTO img
    FROM label_sets s JOIN images i ON i.id = s.image_id WHERE s.id = NEW.label_set_id;
    IF img.width IS NULL THEN
        RAISE EXCEPTION 'image % is not decoded yet: its size is unknown, so the box cannot be checked', img.original_name;
    END IF;
    IF NEW.x + NEW.w > img.width + 0.5 OR NEW.y + NEW.h > img.height + 0.5 THEN
        RAISE EXCEPTION 'box (%, %, %, %) lies outside image % (% × %)', NEW.x, NEW.y, NEW.w, NEW.h,
            img.original_name, img.width, img.height;
    END IF;
    IF NEW.category_id IS NOT NULL THEN
        SELECT vocabulary_id INTO vocab FROM categories WHERE id = NEW.category_id;
        IF vocab IS DISTINCT FROM img.vocabulary_id THEN
            RAISE EXCEPTION 'category % is not in the label set''s vocabulary', NEW.category_id;
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER annotations_check BEFORE INSERT OR UPDATE ON annotations
    FOR EACH ROW EXECUTE FUNCTION annotations_check();
CREATE TRIGGER label_sets_defaults BEFORE INSERT ON label_sets
    FOR EACH ROW EXECUTE FUNCTION label_sets_defaults();

-- Every import attempt, rejected ones with their reason and evidence.
CREATE VIEW label_import_log AS
SELECT l.id, l.source, l.status, l.reason, l.evidence_path, v.name AS vocabulary, l.images, l.annotations, l.received_at
FROM label_imports l LEFT JOIN vocabularies v ON v.id = l.vocabulary_id;

-- Labels as LVIS sees them: per image and category, positive (with its boxes) or negative.
CREATE VIEW labels AS
SELECT s.image_id, i.original_name, s.split, v.name AS vocabulary, c.name AS category, 'positive' AS kind,
       count(a.id) AS boxes
FROM label_sets s JOIN images i ON i.id = s.image_id JOIN vocabularies v ON v.id = s.vocabulary_id
JOIN annotations a ON a.label_set_id = s.id JOIN categories c ON c.id = a.category_id
GROUP BY s.image_id, i.original_name, s.split, v.name, c.name
UNION ALL
SELECT s.image_id, i.original_name, s.split, v.name, c.name, 'negative', 0
FROM label_sets s JOIN images i ON i.id = s.image_id JOIN vocabularies v ON v.id = s.vocabulary_id
JOIN categories c ON c.id = ANY (s.negative_ids);
