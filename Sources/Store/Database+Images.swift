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

public struct StoredDetection: Sendable, Equatable {
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
