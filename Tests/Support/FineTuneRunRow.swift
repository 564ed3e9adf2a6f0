import Store

extension Database {
    /// The newest `fine_tune_runs` row as the tests read it (status, steps, reason, metrics JSON, candidate), or nil.
    public func latestFineTuneRunRow() throws -> [String: String]? {
        let columns = ["status", "steps_done", "steps_total", "reason", "metrics", "candidate_model_id"]
        return try query(Statement("test.latestFineTuneRun", """
            SELECT status, steps_done, steps_total, reason, metrics::text AS metrics, candidate_model_id
            FROM fine_tune_runs ORDER BY id DESC LIMIT 1
            """)).first.map { row in Dictionary(uniqueKeysWithValues: columns.map { ($0, row[$0] ?? "") }) }
    }
}
