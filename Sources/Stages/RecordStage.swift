import Detector
import Foundation
import Logging
import Pipeline
import Store

/// Stores the detections, the provenance and the job's completion in one transaction (then the record's own time).
public struct RecordStage: TypedStage {
    public let name = "record"
    private let database: Database
    private let host: String
    private let logger: Logger

    public init(database: Database, host: String = ProcessInfo.processInfo.hostName, logger: Logger = Logger(label: "pipelined.record")) {
        self.database = database
        self.host = host
        self.logger = logger
    }

    public func run(_ input: DetectedImage, _ item: WorkItem) throws -> StageOutput<Never> {
        let model = input.model
        let rows = input.detections.map { d in
            DetectionRow(label: d.label, prompt: d.prompt, categoryID: d.categoryID, score: Double(d.score),
                         box: (Double(d.box.x0), Double(d.box.y0), Double(d.box.x1), Double(d.box.y1)))
        }
        let vocabulary = input.vocabulary
        let provenance = ProvenanceRow(
            modelVersion: "\(model.name)@\(model.version)", weightsSHA256: model.weightsSHA256,
            vocabularyID: vocabulary?.id, vocabularyVersion: vocabulary?.version,
            codeVersion: PipelinedVersion.string, host: host, timingsMS: item.timingsWithTotal,
            settings: input.settings)
        let started = Date()
        let stored = try database.recordResults(for: item.job, owner: item.owner, width: input.width,
                                                height: input.height, detections: rows, provenance: provenance)
        guard stored else { return .leaseLost }
        // The record's own time and the total are known only once it committed: added to the provenance after.
        var timings = item.timingsWithTotal
        timings["record"] = Date().timeIntervalSince(started) * 1000
        do { try database.updateTimings(jobID: item.job.jobID, timingsMS: timings) } catch {
            logger.warning("timings not updated", metadata: ["job.id": "\(item.job.jobID)", "error": "\(error)"])
        }
        return .completed
    }
}
