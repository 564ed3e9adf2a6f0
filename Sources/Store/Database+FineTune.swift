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
        SELECT c.id, c.name, c.frequency, c.definition,
               (SELECT count(DISTINCT s.image_id) FROM annotations a JOIN label_sets s ON s.id = a.label_set_id
                WHERE a.category_id = c.id AND s.split = 'train') AS labelled_images
        FROM categories c WHERE c.vocabulary_id = $1::bigint ORDER BY c.id
        """)

    /// One split of a vocabulary's labels up to an import, as typed rows (the fine-tuning run's data).
    public func exportLabels(vocabularyID: Int, split: String, uptoImport: Int) throws -> LabelExport {
        let images = try query(Self.exportImages, [vocabularyID, split, uptoImport]).map { r in
            LabelExport.Image(id: try r.int("id"), archivePath: try r.string("archive_path"), width: try r.int("width"),
                              height: try r.int("height"), negativeCategoryIDs: Self.intArray(r["negatives"]),
                              notExhaustiveCategoryIDs: Self.intArray(r["not_exhaustive"]))
        }
        let annotations = try query(Self.exportAnnotations, [vocabularyID, split, uptoImport]).map { r in
            LabelExport.Annotation(id: try r.int("id"), imageID: try r.int("image_id"), categoryID: try r.int("category_id"),
                                   box: (try r.double("x"), try r.double("y"), try r.double("w"), try r.double("h")))
        }
        let categories = try query(Self.exportCategories, [vocabularyID]).map { r in
            let n = try r.int("labelled_images")
            return LabelExport.Category(id: try r.int("id"), name: try r.string("name"),
                                        frequency: r["frequency"] ?? (n < 10 ? "r" : n < 100 ? "c" : "f"), imageCount: n,
                                        definition: r["definition"])
        }
        return LabelExport(images: images, annotations: annotations, categories: categories)
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

/// A split of labels as the database holds them: images by their archive path, boxes in pixels (x, y, w, h), the
/// vocabulary's categories with LVIS frequency groups (by labelled-image count where none is stored).
public struct LabelExport: Sendable {
    public struct Image: Sendable {
        public var id: Int
        public var archivePath: String
        public var width: Int, height: Int
        public var negativeCategoryIDs: [Int]
        public var notExhaustiveCategoryIDs: [Int]
    }

    public struct Annotation: Sendable {
        public var id: Int, imageID: Int, categoryID: Int
        public var box: (x: Double, y: Double, w: Double, h: Double)
    }

    public struct Category: Sendable {
        public var id: Int
        public var name: String
        public var frequency: String
        public var imageCount: Int
        /// The category's definition (DetCLIPv2 reads a category as "name: definition").
        public var definition: String?
    }

    public var images: [Image]
    public var annotations: [Annotation]
    public var categories: [Category]
}
