import Detector
import Foundation
import Pipeline
import Store

/// Stores the detections, the provenance and the job's completion in one transaction.
public struct RecordStage: Stage {
    public let name = "record"
    private let database: Database
    private let host: String

    public init(database: Database, host: String = ProcessInfo.processInfo.hostName) {
        self.database = database
        self.host = host
    }

    public func run(_ item: WorkItem) throws -> StageResult {
        guard let size = item[WorkKeys.size], let model = item[WorkKeys.model],
              let detections = item[WorkKeys.detections] else {
            preconditionFailure("record runs after decode and detect")
        }
        let rows = detections.map { d in
            DetectionRow(label: d.label, prompt: d.prompt, categoryID: d.categoryID, score: Double(d.score),
                         box: (Double(d.box.x0), Double(d.box.y0), Double(d.box.x1), Double(d.box.y1)))
        }
        let vocabulary = item[WorkKeys.vocabulary]
        let provenance = ProvenanceRow(
            modelVersion: "\(model.name)@\(model.version)", weightsSHA256: model.weightsSHA256,
            vocabularyID: vocabulary?.id, vocabularyVersion: vocabulary?.version,
            codeVersion: PipelinedVersion.string, host: host, timingsMS: item.timingsMS,
            settings: item[WorkKeys.settings] ?? [:])
        let stored = try database.recordResults(for: item.job, owner: item.owner, width: size.width,
                                                height: size.height, detections: rows, provenance: provenance)
        return stored ? .completed : .leaseLost
    }
}
