-- Query strategies (issue 16): a vocabulary is asked exactly (one prompt per category), packed (many categories per
-- caption) or by a shortlist (packed passes rank, the best categories are then asked exactly). Each detection's
-- provenance settings name it; the view shows it, with 'exact' for rows recorded before strategies existed.
CREATE OR REPLACE VIEW vocabulary_detections AS
SELECT a.inbox, a.original_name, i.sha256, v.name AS vocabulary, v.version AS vocabulary_version,
       c.name AS category, c.frequency, d.prompt, d.score, d.x0, d.y0, d.x1, d.y1,
       p.model_version, p.settings, p.created_at AS detected_at, i.id AS image_id,
       COALESCE(p.settings->>'strategy', 'exact') AS strategy
FROM detections d
JOIN categories c ON c.id = d.category_id
JOIN vocabularies v ON v.id = c.vocabulary_id
JOIN provenance p ON p.id = d.provenance_id
JOIN images i ON i.id = d.image_id
JOIN image_arrivals a ON a.image_id = i.id;
