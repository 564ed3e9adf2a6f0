import Foundation

/// One evaluation run to store (see migrations/0003_evaluations.sql).
public struct EvaluationRecord: Sendable {
    public var modelName: String, modelVersion: String, weightsSHA256: String
    public var annotationsPath: String, annotationsSHA256: String
    public var fixedAP: Bool
    public var settings: [String: String]
    public var images: Int
    public var metrics: [(String, Double)]
    /// (category id, name, frequency, AP or nil when undefined).
    public var categoryAP: [(id: Int, name: String, frequency: String?, ap: Double?)]
    public var seconds: Double
    public var startedAt: Date

    public init(modelName: String, modelVersion: String, weightsSHA256: String, annotationsPath: String,
                annotationsSHA256: String, fixedAP: Bool, settings: [String: String], images: Int,
                metrics: [(String, Double)], categoryAP: [(id: Int, name: String, frequency: String?, ap: Double?)],
                seconds: Double, startedAt: Date) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.weightsSHA256 = weightsSHA256
        self.annotationsPath = annotationsPath
        self.annotationsSHA256 = annotationsSHA256
        self.fixedAP = fixedAP
        self.settings = settings
        self.images = images
        self.metrics = metrics
        self.categoryAP = categoryAP
        self.seconds = seconds
        self.startedAt = startedAt
    }
}

extension Database {
    static let insertEvaluation = Statement("evaluations.insert", """
        INSERT INTO evaluation_runs (model_name, model_version, weights_sha256, annotations_path, annotations_sha256,
                                     protocol, settings, images, metrics, seconds, started_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::integer, $9::jsonb, $10::double precision, to_timestamp($11::double precision))
        RETURNING id
        """)

    /// Stores a run and its per-category AP in one transaction; returns the run id.
    @discardableResult
    public func recordEvaluation(_ e: EvaluationRecord) throws -> Int {
        let metrics = Dictionary(e.metrics, uniquingKeysWith: { first, _ in first })   // −1 = undefined, as upstream
        return try transaction { conn in
            guard let row = try conn.query(Self.insertEvaluation, [
                e.modelName, e.modelVersion, e.weightsSHA256, e.annotationsPath, e.annotationsSHA256,
                e.fixedAP ? "fixed_ap" : "standard", JSONParam(e.settings), e.images, JSONParam(metrics), e.seconds, e.startedAt.timeIntervalSince1970,
            ]).first else {
                throw StoreError.query(statement: Self.insertEvaluation.name, sqlState: "XX000", message: "no row", detail: nil)
            }
            let id = try row.int("id")
            try conn.copy(into: "evaluation_category_ap", columns: ["run_id", "category_id", "category_name", "frequency", "ap"],
                          rows: e.categoryAP.map { [id, $0.id, $0.name, $0.frequency, $0.ap] })
            return id
        }
    }
}
