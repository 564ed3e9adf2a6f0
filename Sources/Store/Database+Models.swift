/// A registered model version.
public struct ModelRecord: Sendable {
    public var id: Int
    public var name: String
    public var version: String
    public var weightsSHA256: String
    public var status: String
    public var createdAt: String
    public var path: String?
    public var parentID: Int?
    public var statusReason: String?
    public var metricsJSON: String = "{}"
    public var labelSnapshotJSON: String?

    public var label: String { "\(name)@\(version)" }
}

/// What a new model version is registered with.
public struct NewModel: Sendable {
    public var name: String, version: String, weightsSHA256: String
    public var configJSON: String
    public var path: String?
    public var parentID: Int?
    public var labelSnapshotJSON: String?
    public var hyperparametersJSON: String?
    public var metricsJSON: String = "{}"

    public init(name: String, version: String, weightsSHA256: String, configJSON: String, path: String? = nil,
                parentID: Int? = nil, labelSnapshotJSON: String? = nil, hyperparametersJSON: String? = nil, metricsJSON: String = "{}") {
        (self.name, self.version, self.weightsSHA256, self.configJSON, self.path) = (name, version, weightsSHA256, configJSON, path)
        (self.parentID, self.labelSnapshotJSON, self.hyperparametersJSON, self.metricsJSON) = (parentID, labelSnapshotJSON, hyperparametersJSON, metricsJSON)
    }
}

/// Why a status change cannot be made.
public enum ModelStatusError: Error, CustomStringConvertible, Equatable {
    case noSuchModel(String)
    case noActiveModel
    case noParent(String)

    public var description: String {
        switch self {
        case let .noSuchModel(m): return "no model \(m) is registered (see `pipelined model list`)"
        case .noActiveModel: return "no model is active"
        case let .noParent(m): return "the active model \(m) replaced no other version and has no parent to roll back to"
        }
    }
}

extension Database {
    static let registerModel = Statement("models.register", """
        INSERT INTO models (name, version, weights_sha256, config, status, path, parent_id, label_snapshot, hyperparameters, metrics)
        VALUES ($1, $2, $3, $4::jsonb, 'candidate', $5, $6::bigint, $7::jsonb, $8::jsonb, $9::jsonb)
        ON CONFLICT (name, version) DO UPDATE SET weights_sha256 = excluded.weights_sha256,
            path = coalesce(excluded.path, models.path), metrics = models.metrics || excluded.metrics
        RETURNING id
        """)

    /// Records a model version as a candidate (idempotent for the same name and version). Returns its id.
    public func registerModel(_ m: NewModel) throws -> Int {
        guard let row = try query(Self.registerModel, [m.name, m.version, m.weightsSHA256, m.configJSON, m.path, m.parentID,
                                                       m.labelSnapshotJSON, m.hyperparametersJSON, m.metricsJSON]).first else {
            throw StoreError.query(statement: Self.registerModel.name, sqlState: "XX000", message: "no id returned", detail: nil)
        }
        return try row.int("id")
    }

    public func registerModel(name: String, version: String, weightsSHA256: String, configJSON: String) throws -> Int {
        try registerModel(NewModel(name: name, version: version, weightsSHA256: weightsSHA256, configJSON: configJSON))
    }

    static let modelColumns = """
        id, name, version, weights_sha256, status, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') AS created, path,
        parent_id, status_reason, metrics::text AS metrics, label_snapshot::text AS label_snapshot
        """
    static let listModels = Statement("models.list", "SELECT \(modelColumns) FROM models ORDER BY created_at, id")
    static let activeModel = Statement("models.active", "SELECT \(modelColumns) FROM models WHERE status = 'active'")
    static let modelByID = Statement("models.by_id", "SELECT \(modelColumns) FROM models WHERE id = $1::bigint")
    static let modelByLabel = Statement("models.by_label", """
        SELECT \(modelColumns) FROM models WHERE id::text = $1 OR name || '@' || version = $1 OR version = $1
        ORDER BY created_at DESC LIMIT 1
        """)

    static func model(_ r: PGRow) throws -> ModelRecord {
        ModelRecord(id: try r.int("id"), name: try r.string("name"), version: try r.string("version"),
                    weightsSHA256: try r.string("weights_sha256"), status: try r.string("status"), createdAt: try r.string("created"),
                    path: r["path"], parentID: try r.optionalInt("parent_id"), statusReason: r["status_reason"],
                    metricsJSON: r["metrics"] ?? "{}", labelSnapshotJSON: r["label_snapshot"])
    }

    public func models() throws -> [ModelRecord] { try query(Self.listModels).map(Self.model) }
    public func activeModel() throws -> ModelRecord? { try query(Self.activeModel).first.map(Self.model) }
    public func model(id: Int) throws -> ModelRecord? { try query(Self.modelByID, [id]).first.map(Self.model) }
    /// A model named by id, `name@version` or version.
    public func model(named label: String) throws -> ModelRecord? { try query(Self.modelByLabel, [label]).first.map(Self.model) }

    static let retireActive = Statement("models.retire_active", """
        UPDATE models SET status = 'retired', status_reason = $1, status_changed_at = now(), replaced_by = $2::bigint
        WHERE status = 'active'
        """)
    static let replacedModel = Statement("models.replaced", """
        SELECT \(modelColumns) FROM models WHERE replaced_by = $1::bigint AND status = 'retired'
        ORDER BY status_changed_at DESC, id DESC LIMIT 1
        """)
    static let setStatus = Statement("models.set_status", """
        UPDATE models SET status = $2, status_reason = $3, status_changed_at = now(),
                          metrics = CASE WHEN $4::jsonb IS NULL THEN metrics ELSE metrics || $4::jsonb END
        WHERE id = $1::bigint
        """)
    static let lockModels = Statement("models.lock", "SELECT pg_advisory_xact_lock(hashtext('pipelined.models'))")

    /// Makes `id` the active model; the previously active one is retired with the same reason. One transaction, so
    /// there is never a moment with two active models or none.
    public func promoteModel(id: Int, reason: String, metricsJSON: String? = nil) throws {
        try transaction { conn in
            try conn.query(Self.lockModels)
            guard let row = try conn.query(Self.modelByID, [id]).first else { throw ModelStatusError.noSuchModel("\(id)") }
            let m = try Self.model(row)
            guard m.status != "active" else { return }
            try conn.query(Self.retireActive, ["replaced by \(m.label): \(reason)", id])
            try conn.query(Self.setStatus, [id, "active", reason, metricsJSON])
        }
    }

    /// Marks a candidate rejected, keeping it (and its metrics) for the record.
    public func rejectModel(id: Int, reason: String, metricsJSON: String? = nil) throws {
        try query(Self.setStatus, [id, "rejected", reason, metricsJSON])
    }

    /// Puts back the version the active one replaced (else its parent); the active one is retired. Returns the
    /// model now active.
    @discardableResult
    public func rollbackModel(reason: String) throws -> ModelRecord {
        try transaction { conn in
            try conn.query(Self.lockModels)
            guard let row = try conn.query(Self.activeModel).first else { throw ModelStatusError.noActiveModel }
            let active = try Self.model(row)
            let previous = try conn.query(Self.replacedModel, [active.id]).first
                ?? (active.parentID.map { try conn.query(Self.modelByID, [$0]).first } ?? nil)
            guard let parentRow = previous else { throw ModelStatusError.noParent(active.label) }
            let parentID = try parentRow.int("id")
            try conn.query(Self.setStatus, [active.id, "retired", "rolled back: \(reason)", nil as String?])
            try conn.query(Self.setStatus, [parentID, "active", "rolled back to from \(active.label): \(reason)", nil as String?])
            var parent = try Self.model(parentRow)
            parent.status = "active"
            return parent
        }
    }
}
