import Foundation

/// A fine-tuning run as recorded in `fine_tune_runs`.
public struct FineTuneRunRecord: Sendable {
    public var id: Int
    public var parentModelID: Int
    public var status: String
    public var trigger: String
    public var uptoImport: Int
    public var checkpointPath: String
    public var stepsDone: Int, stepsTotal: Int
    public var hyperparametersJSON: String
    public var labelSnapshotJSON: String
}

/// Labelled images of a vocabulary, by split, and the newest import they come from.
public struct LabelCounts: Sendable, Equatable {
    public var train: Int, heldout: Int
    public var newestImport: Int
}

extension Database {
    static let labelCounts = Statement("finetune.label_counts", """
        SELECT count(*) FILTER (WHERE split = 'train' AND import_id > $2::bigint) AS train,
               count(*) FILTER (WHERE split = 'heldout' AND import_id > $2::bigint) AS heldout,
               coalesce(max(import_id), 0) AS newest
        FROM label_sets WHERE vocabulary_id = $1::bigint
        """)

    /// Labelled images of the vocabulary from imports after `afterImport` (0: all).
    public func labelCounts(vocabularyID: Int, afterImport: Int = 0) throws -> LabelCounts {
        let r = try query(Self.labelCounts, [vocabularyID, afterImport]).first!
        return LabelCounts(train: try r.int("train"), heldout: try r.int("heldout"), newestImport: try r.int("newest"))
    }

    static let exportImages = Statement("finetune.export_images", """
        SELECT s.id AS set_id, i.id, i.archive_path, i.width, i.height, s.negative_ids::text AS negatives,
               s.not_exhaustive_ids::text AS not_exhaustive
        FROM label_sets s JOIN images i ON i.id = s.image_id
        WHERE s.vocabulary_id = $1::bigint AND s.split = $2 AND s.import_id <= $3::bigint AND i.width IS NOT NULL
        ORDER BY i.id
        """)
    static let exportAnnotations = Statement("finetune.export_annotations", """
        SELECT a.id, s.image_id, a.category_id, a.x, a.y, a.w, a.h
        FROM annotations a JOIN label_sets s ON s.id = a.label_set_id
        WHERE s.vocabulary_id = $1::bigint AND s.split = $2 AND s.import_id <= $3::bigint AND a.category_id IS NOT NULL
        ORDER BY a.id
        """)
    static let exportCategories = Statement("finetune.export_categories", """
        SELECT c.id, c.name, c.frequency,
               (SELECT count(DISTINCT s.image_id) FROM annotations a JOIN label_sets s ON s.id = a.label_set_id
                WHERE a.category_id = c.id AND s.split = 'train') AS labelled_images
        FROM categories c WHERE c.vocabulary_id = $1::bigint ORDER BY c.id
        """)

    /// One split of a vocabulary's labels (imports up to `uptoImport`) as an LVIS v1 file: image ids and category
    /// ids are the database's, `file_name` is the image's path in the archive. A category's frequency bucket is the
    /// vocabulary's (from LVIS) or, without one, LVIS's rule applied to the labelled training images.
    public func exportLabels(vocabularyID: Int, split: String, uptoImport: Int) throws -> [String: Any] {
        let images = try query(Self.exportImages, [vocabularyID, split, uptoImport]).map { r -> [String: Any] in
            ["id": try r.int("id"), "file_name": try r.string("archive_path"), "width": try r.int("width"),
             "height": try r.int("height"), "neg_category_ids": Self.intArray(r["negatives"]),
             "not_exhaustive_category_ids": Self.intArray(r["not_exhaustive"])]
        }
        let annotations = try query(Self.exportAnnotations, [vocabularyID, split, uptoImport]).map { r -> [String: Any] in
            let box = [try r.double("x"), try r.double("y"), try r.double("w"), try r.double("h")]
            return ["id": try r.int("id"), "image_id": try r.int("image_id"), "category_id": try r.int("category_id"),
                    "bbox": box, "area": box[2] * box[3], "iscrowd": 0]
        }
        let categories = try query(Self.exportCategories, [vocabularyID]).map { r -> [String: Any] in
            let n = try r.int("labelled_images")
            return ["id": try r.int("id"), "name": try r.string("name"),
                    "frequency": r["frequency"] ?? (n < 10 ? "r" : n < 100 ? "c" : "f"), "image_count": n]
        }
        return ["images": images, "annotations": annotations, "categories": categories]
    }

    static let insertRun = Statement("finetune.insert_run", """
        INSERT INTO fine_tune_runs (parent_model_id, trigger, label_snapshot, hyperparameters, checkpoint_path, steps_total)
        VALUES ($1::bigint, $2, $3::jsonb, $4::jsonb, $5, $6::integer) RETURNING id
        """)
    static let runningRun = Statement("finetune.running", """
        SELECT id, parent_model_id, status, trigger, (label_snapshot ->> 'upto_import')::bigint AS upto, checkpoint_path,
               steps_done, steps_total, hyperparameters::text AS hyper, label_snapshot::text AS snapshot
        FROM fine_tune_runs WHERE status = 'running'
        """)
    static let latestRun = Statement("finetune.latest", """
        SELECT id, status, (label_snapshot ->> 'upto_import')::bigint AS upto FROM fine_tune_runs ORDER BY id DESC LIMIT 1
        """)

    /// The newest run's status and the newest label import it saw, if any run happened.
    public func latestFineTune() throws -> (id: Int, status: String, uptoImport: Int)? {
        try query(Self.latestRun).first.map { (try $0.int("id"), try $0.string("status"), try $0.int("upto")) }
    }

    static let hoursSinceRun = Statement("finetune.hours_since", """
        SELECT extract(epoch FROM now() - max(started_at)) / 3600 AS hours FROM fine_tune_runs
        """)

    /// Hours since the last run started; nil when none ever ran.
    public func hoursSinceLastFineTune() throws -> Double? {
        try query(Self.hoursSinceRun).first.flatMap { $0["hours"] }.flatMap(Double.init)
    }

    static let runProgress = Statement("finetune.progress", "UPDATE fine_tune_runs SET steps_done = $2::integer WHERE id = $1::bigint")
    static let finishRun = Statement("finetune.finish", """
        UPDATE fine_tune_runs SET status = $2, candidate_model_id = $3::bigint, metrics = $4::jsonb, reason = $5, finished_at = now()
        WHERE id = $1::bigint
        """)

    /// Records a new running fine-tune (at most one runs at a time: a second insert fails on the unique index).
    public func startFineTune(parentModelID: Int, trigger: String, labelSnapshotJSON: String, hyperparametersJSON: String,
                              checkpointPath: String, stepsTotal: Int) throws -> Int {
        try query(Self.insertRun, [parentModelID, trigger, labelSnapshotJSON, hyperparametersJSON, checkpointPath, stepsTotal]).first!.int("id")
    }

    public func runningFineTune() throws -> FineTuneRunRecord? {
        try query(Self.runningRun).first.map { r in
            FineTuneRunRecord(id: try r.int("id"), parentModelID: try r.int("parent_model_id"), status: try r.string("status"),
                              trigger: try r.string("trigger"), uptoImport: try r.int("upto"), checkpointPath: try r.string("checkpoint_path"),
                              stepsDone: try r.int("steps_done"), stepsTotal: try r.int("steps_total"),
                              hyperparametersJSON: r["hyper"] ?? "{}", labelSnapshotJSON: r["snapshot"] ?? "{}")
        }
    }

    public func fineTuneProgress(id: Int, stepsDone: Int) throws { try query(Self.runProgress, [id, stepsDone]) }

    public func finishFineTune(id: Int, status: String, candidateModelID: Int?, metricsJSON: String, reason: String) throws {
        try query(Self.finishRun, [id, status, candidateModelID, metricsJSON, reason])
    }
}
