@testable import Store
import TestSupport
import Testing

/// Model versions: promotion swaps the active model in one step, rejection keeps the candidate, rollback restores
/// the parent, and the lineage view shows it all.
@Suite struct ModelLineageTests {
    func register(_ db: Database, _ version: String, parent: Int? = nil, metrics: String = "{}") throws -> Int {
        try db.registerModel(NewModel(name: "m", version: version, weightsSHA256: String(repeating: "a", count: 64), configJSON: "{}",
                                      path: "/models/\(version)", parentID: parent, labelSnapshotJSON: #"{"upto_import": 3}"#,
                                      hyperparametersJSON: #"{"lr": 0.0001}"#, metricsJSON: metrics))
    }

    @Test func promoteRejectAndRollBack() throws {
        let db = Database(url: try TestDatabase.fresh(migrated: true))
        let base = try register(db, "v1", metrics: #"{"AP": 0.3, "APr": 0.2}"#)
        try db.promoteModel(id: base, reason: "first model")
        #expect(try db.activeModel()?.version == "v1")

        let better = try register(db, "v2", parent: base)
        try db.promoteModel(id: better, reason: "gate passed", metricsJSON: #"{"AP": 0.35, "APr": 0.25}"#)
        #expect(try db.activeModel()?.version == "v2")
        #expect(try db.model(id: base)?.status == "retired")
        #expect(try db.model(id: base)?.statusReason?.contains("replaced by m@v2") == true)

        let worse = try register(db, "v3", parent: better)
        try db.rejectModel(id: worse, reason: "APr 0.1 < 0.25", metricsJSON: #"{"AP": 0.2, "APr": 0.1}"#)
        #expect(try db.model(id: worse)?.status == "rejected" && db.activeModel()?.version == "v2")

        let restored = try db.rollbackModel(reason: "operator")
        #expect(try restored.version == "v1" && db.activeModel()?.version == "v1")
        #expect(try db.model(id: better)?.status == "retired")
        #expect(throws: ModelStatusError.noParent("m@v1")) { try db.rollbackModel(reason: "again") }

        let lineage = try db.query(Statement("t.lineage", "SELECT version, status, parent, apr FROM model_lineage ORDER BY version"))
        #expect(lineage.map { "\($0["version"] ?? "") \($0["status"] ?? "") \($0["parent"] ?? "-") \($0["apr"] ?? "-")" }
                == ["v1 active - 0.2", "v2 retired m@v1 0.25", "v3 rejected m@v2 0.1"])
    }
}
