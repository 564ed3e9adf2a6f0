/// A registered model version.
public struct ModelRecord: Sendable {
    public var id: Int
    public var name: String
    public var version: String
    public var weightsSHA256: String
    public var status: String
    public var createdAt: String
}

extension Database {
    static let registerModel = Statement("models.register", """
        INSERT INTO models (name, version, weights_sha256, config, status)
        VALUES ($1, $2, $3, $4::jsonb, 'candidate')
        ON CONFLICT (name, version) DO UPDATE SET weights_sha256 = excluded.weights_sha256
        RETURNING id
        """)

    /// Records an imported model (idempotent for the same name and version). Returns its id.
    public func registerModel(name: String, version: String, weightsSHA256: String, configJSON: String) throws -> Int {
        guard let row = try query(Self.registerModel, [name, version, weightsSHA256, configJSON]).first else {
            throw StoreError.query(statement: Self.registerModel.name, sqlState: "XX000", message: "no id returned", detail: nil)
        }
        return try row.int("id")
    }

    static let listModels = Statement("models.list", """
        SELECT id, name, version, weights_sha256, status, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') AS created
        FROM models ORDER BY created_at, id
        """)

    public func models() throws -> [ModelRecord] {
        try query(Self.listModels).map {
            ModelRecord(id: try $0.int("id"), name: try $0.string("name"), version: try $0.string("version"),
                        weightsSHA256: try $0.string("weights_sha256"), status: try $0.string("status"),
                        createdAt: try $0.string("created"))
        }
    }
}
