import Detector
import Foundation
import Pipeline

/// Archive bytes → upright RGB pixels. Unusable files are rejected, which quarantines them with the reason.
public struct DecodeStage: TypedStage {
    public let name = "decode"
    private let decoder: ImageDecoder

    public init(limits: DecodeLimits) {
        decoder = ImageDecoder(limits: limits)
    }

    public func run(_ input: Void, _ item: WorkItem) throws -> StageOutput<DecodedImage> {
        let image: RGBImage
        do {
            let data = try decoder.read(file: item.archiveFile)
            // The archive is content-addressed: bytes that no longer hash to the recorded sha256 were changed behind
            // the daemon's back, and detections from them would be recorded under another image's identity.
            let actual = Ingestor.sha256(data)
            guard actual == item.job.sha256 else {
                throw StageFailure.reject(reason: "the archived bytes changed after ingest: sha256 \(actual.prefix(12))… is not the recorded \(item.job.sha256.prefix(12))…")
            }
            image = try decoder.decode(data)
        } catch DecodeError.unreadable(let path, let reason) {
            // The archive copy could not be read (I/O error, permissions): not the file's fault, so the job is
            // retried like any other failure instead of quarantining the image.
            throw DecodeError.unreadable(path: path, reason: reason)
        } catch let error as DecodeError {
            throw StageFailure.reject(reason: error.description)
        }
        return .next(DecodedImage(image: image))
    }
}
