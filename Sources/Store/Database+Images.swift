import Foundation

/// An archived image and what was found on it, for drawing (`pipelined render`) and for showing results.
public struct StoredImage: Sendable {
    public var id: Int
    public var originalName: String
    public var inbox: String
    /// Relative to the archive root.
    public var archivePath: String
    public var status: String
}

public struct StoredDetection: Sendable, Equatable, Codable {
    public var label: String
    public var prompt: String?
    public var score: Double
    public var x0, y0, x1, y1: Double
}

extension Database {
    static let imageByID = Statement("images.by_id", """
        SELECT id, original_name, inbox, archive_path, status FROM images WHERE id = $1::bigint
        """)
    /// The newest arrival under that name (as `detections_for_file` reads it), in any inbox unless one is named.
    static let imageByArrivalName = Statement("images.by_arrival_name", """
        SELECT i.id, i.original_name, i.inbox, i.archive_path, i.status
        FROM image_arrivals a JOIN images i ON i.id = a.image_id
        WHERE a.original_name = $1 AND ($2::text IS NULL OR a.inbox = $2)
        ORDER BY a.arrived_at DESC, a.id DESC LIMIT 1
        """)
    static let imageDetections = Statement("images.detections", """
        SELECT label, prompt, score, x0, y0, x1, y1 FROM detections
        WHERE image_id = $1::bigint AND score >= $2::real
          AND ($3::text IS NULL OR position(lower($3) IN lower(label)) > 0)
        ORDER BY score DESC, id
        LIMIT $4::bigint
        """)

    static func storedImage(_ r: PGRow) throws -> StoredImage {
        StoredImage(id: try r.int("id"), originalName: try r.string("original_name"), inbox: try r.string("inbox"),
                    archivePath: try r.string("archive_path"), status: try r.string("status"))
    }

    public func image(id: Int) throws -> StoredImage? {
        try query(Self.imageByID, [id]).first.map(Self.storedImage)
    }

    /// The image that last arrived as `originalName` (a path relative to its inbox).
    public func image(arrivedAs originalName: String, inbox: String? = nil) throws -> StoredImage? {
        try query(Self.imageByArrivalName, [originalName, inbox]).first.map(Self.storedImage)
    }

    /// Its detections, best first: at least `minScore`, the label containing `label` (any case), at most `limit`.
    public func detections(imageID: Int, minScore: Double = 0, label: String? = nil, limit: Int? = nil) throws -> [StoredDetection] {
        try query(Self.imageDetections, [imageID, minScore, label, limit ?? Int(Int32.max)]).map {
            StoredDetection(label: try $0.string("label"), prompt: $0["prompt"], score: try $0.double("score"),
                            x0: try $0.double("x0"), y0: try $0.double("y0"), x1: try $0.double("x1"), y1: try $0.double("y1"))
        }
    }
}

/// One row of the results list: an image, where it stands, and how much was found.
public struct ImageSummary: Sendable, Codable, Equatable {
    public var id: Int
    public var originalName: String
    public var inbox: String
    public var sha256: String
    public var status: String
    public var width: Int?
    public var height: Int?
    public var receivedAt: String
    public var jobID: Int?
    public var jobState: String?
    /// Detections at or above the listing's minimum score.
    public var detections: Int
}

/// What to list: newest first, before an id (keyset paging, so page 1,000 costs what page 1 does).
public struct ImageFilter: Sendable {
    public var inbox: String?
    public var label: String?
    public var minScore = 0.0
    /// ISO 8601; images received at or after.
    public var since: String?
    public var beforeID: Int?
    public var limit = 50

    public init(inbox: String? = nil, label: String? = nil, minScore: Double = 0, since: String? = nil, beforeID: Int? = nil, limit: Int = 50) {
        (self.inbox, self.label, self.minScore, self.since, self.beforeID, self.limit) = (inbox, label, minScore, since, beforeID, limit)
    }
}

/// How an image was processed: the model, the questions and the timings.
public struct ImageProvenance: Sendable, Codable, Equatable {
    public var modelVersion: String
    public var weightsSHA256: String
    public var vocabularyVersion: Int?
    public var settingsJSON: String
    public var timingsJSON: String
    public var host: String
    public var worker: String
    public var detectedAt: String
}

public struct ImageArrival: Sendable, Codable, Equatable {
    public var inbox: String
    public var originalName: String
    public var arrivedAt: String
}

public struct JobRecord: Sendable, Codable, Equatable {
    public var id: Int
    public var imageID: Int
    public var state: String
    public var attempt: Int
    public var maxAttempts: Int
    public var lastError: String?
}

extension Database {
    static let listImages = Statement("images.list", """
        SELECT i.id, i.original_name, i.inbox, i.sha256, i.status, i.width, i.height,
               to_char(i.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS received_at, j.id AS job_id, j.state,
               (SELECT count(*) FROM detections d WHERE d.image_id = i.id AND d.score >= $3::real) AS detections
        FROM images i LEFT JOIN jobs j ON j.image_id = i.id
        WHERE ($1::text IS NULL OR i.inbox = $1)
          AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM detections d WHERE d.image_id = i.id AND d.score >= $3::real
                                           AND position(lower($2) IN lower(d.label)) > 0))
          AND ($4::timestamptz IS NULL OR i.received_at >= $4::timestamptz)
          AND ($5::bigint IS NULL OR i.id < $5::bigint)
        ORDER BY i.id DESC
        LIMIT $6::int
        """)
    static let imageProvenance = Statement("images.provenance", """
        SELECT model_version, weights_sha256, vocabulary_version, settings::text AS settings, timings_ms::text AS timings,
               host, worker, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS detected_at
        FROM provenance WHERE image_id = $1::bigint ORDER BY id DESC LIMIT 1
        """)
    static let imageArrivals = Statement("images.arrivals", """
        SELECT inbox, original_name, to_char(arrived_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS arrived_at
        FROM image_arrivals WHERE image_id = $1::bigint ORDER BY arrived_at, id
        """)
    static let jobByID = Statement("jobs.by_id", """
        SELECT id, image_id, state, attempt, max_attempts, errors[array_upper(errors, 1)] ->> 'message' AS last_error
        FROM jobs WHERE id = $1::bigint
        """)

    public func images(_ filter: ImageFilter) throws -> [ImageSummary] {
        try query(Self.listImages, [filter.inbox, filter.label, filter.minScore, filter.since, filter.beforeID,
                                    max(1, min(filter.limit, 500))]).map {
            ImageSummary(id: try $0.int("id"), originalName: try $0.string("original_name"), inbox: try $0.string("inbox"),
                         sha256: try $0.string("sha256"), status: try $0.string("status"), width: try $0.optionalInt("width"),
                         height: try $0.optionalInt("height"), receivedAt: try $0.string("received_at"), jobID: try $0.optionalInt("job_id"),
                         jobState: $0["state"], detections: try $0.int("detections"))
        }
    }

    /// One image as the listing shows it.
    public func imageSummary(id: Int) throws -> ImageSummary? {
        try images(ImageFilter(beforeID: id + 1, limit: 1)).first { $0.id == id }
    }

    public func provenance(imageID: Int) throws -> ImageProvenance? {
        try query(Self.imageProvenance, [imageID]).first.map {
            ImageProvenance(modelVersion: try $0.string("model_version"), weightsSHA256: try $0.string("weights_sha256"),
                            vocabularyVersion: try $0.optionalInt("vocabulary_version"), settingsJSON: try $0.string("settings"),
                            timingsJSON: try $0.string("timings"), host: try $0.string("host"), worker: try $0.string("worker"),
                            detectedAt: try $0.string("detected_at"))
        }
    }

    public func arrivals(imageID: Int) throws -> [ImageArrival] {
        try query(Self.imageArrivals, [imageID]).map {
            ImageArrival(inbox: try $0.string("inbox"), originalName: try $0.string("original_name"), arrivedAt: try $0.string("arrived_at"))
        }
    }

    static let jobByImage = Statement("jobs.by_image", "SELECT id FROM jobs WHERE image_id = $1::bigint")

    public func jobID(imageID: Int) throws -> Int? {
        try query(Self.jobByImage, [imageID]).first.map { try $0.int("id") }
    }

    public func job(id: Int) throws -> JobRecord? {
        try query(Self.jobByID, [id]).first.map {
            JobRecord(id: try $0.int("id"), imageID: try $0.int("image_id"), state: try $0.string("state"), attempt: try $0.int("attempt"),
                      maxAttempts: try $0.int("max_attempts"), lastError: $0["last_error"])
        }
    }
}

extension Database {
    static let detectionsOfImages = Statement("images.detections_of_many", """
        SELECT image_id, label, prompt, score, x0, y0, x1, y1 FROM (
            SELECT d.image_id, d.label, d.prompt, d.score, d.x0, d.y0, d.x1, d.y1,
                   row_number() OVER (PARTITION BY d.image_id ORDER BY d.score DESC, d.id) AS rank
            FROM detections d
            WHERE d.image_id = ANY($1::bigint[]) AND d.score >= $2::real
              AND ($3::text IS NULL OR position(lower($3) IN lower(d.label)) > 0)
        ) ranked WHERE rank <= $4::int ORDER BY image_id, rank
        """)

    /// The best `perImage` detections of each image (one query for a whole page of results).
    public func detections(imageIDs: [Int], minScore: Double = 0, label: String? = nil, perImage: Int) throws -> [Int: [StoredDetection]] {
        guard !imageIDs.isEmpty else { return [:] }
        var out: [Int: [StoredDetection]] = [:]
        let array = "{" + imageIDs.map(String.init).joined(separator: ",") + "}"
        for row in try query(Self.detectionsOfImages, [array, minScore, label, perImage]) {
            out[try row.int("image_id"), default: []].append(
                StoredDetection(label: try row.string("label"), prompt: row["prompt"], score: try row.double("score"),
                                x0: try row.double("x0"), y0: try row.double("y0"), x1: try row.double("x1"), y1: try row.double("y1")))
        }
        return out
    }
}
