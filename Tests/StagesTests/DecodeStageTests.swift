import Foundation
import Pipeline
import Stages
@testable import Store
import Testing

/// The decode stage reads the archive copy: bytes that no longer match the hash they were recorded under are
/// refused, whoever changed them.
@Suite struct DecodeStageTests {
    static let png = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/decoder/good/gray.png").path

    func item(sha256: String) -> WorkItem {
        WorkItem(job: ClaimedJob(jobID: 1, imageID: 1, attempt: 1, maxAttempts: 3, sha256: sha256, archivePath: "x",
                                 format: "png", inbox: "in", originalName: "gray.png"),
                 owner: "test", archiveFile: Self.png)
    }

    @Test func bytesThatStillMatchTheirHashAreDecoded() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.png))
        let sha = Ingestor.sha256(data)
        guard case .next = try DecodeStage(limits: DecodeLimits()).run((), item(sha256: sha)) else {
            Issue.record("expected the next stage"); return
        }
    }

    @Test func bytesChangedAfterIngestAreRejected() {
        #expect {
            _ = try DecodeStage(limits: DecodeLimits()).run((), item(sha256: String(repeating: "ab", count: 32)))
        } throws: { error in
            guard case let StageFailure.reject(reason) = error else { return false }
            return reason.contains("changed after ingest")
        }
    }
}
