import Detector
import Pipeline

/// Archive bytes → upright RGB pixels. Unusable files are rejected, which quarantines them with the reason.
public struct DecodeStage: Stage {
    public let name = "decode"
    private let decoder: ImageDecoder

    public init(limits: DecodeLimits) {
        decoder = ImageDecoder(limits: limits)
    }

    public func run(_ item: WorkItem) throws -> StageResult {
        let image: RGBImage
        do {
            image = try decoder.decode(file: item.archiveFile)
        } catch DecodeError.unreadable(let path, let reason) {
            // The archive copy could not be read (I/O error, permissions): not the file's fault, so the job is
            // retried like any other failure instead of quarantining the image.
            throw DecodeError.unreadable(path: path, reason: reason)
        } catch let error as DecodeError {
            throw StageFailure.reject(reason: error.description)
        }
        item[WorkKeys.image] = image
        item[WorkKeys.size] = (image.width, image.height)
        return .next
    }
}
