import Foundation
import Pipeline

extension Ingestor {
    /// Ingests a file the test just wrote. Such a file can look "still open for writing" for a moment — a child
    /// process another test forks meanwhile inherits the descriptor — and the ingest then rightly skips it; this tries
    /// again until it is taken (or ten seconds pass).
    public func ingestWritten(path: String) throws -> Ingestor.Result {
        var result = try ingest(path: path)
        for _ in 0..<100 {
            guard case .skipped = result else { break }
            Thread.sleep(forTimeInterval: 0.1)
            result = try ingest(path: path)
        }
        return result
    }
}
