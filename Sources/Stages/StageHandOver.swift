import Detector
import Pipeline

/// What decode hands to detect: the upright pixels.
public struct DecodedImage: Sendable {
    public var image: RGBImage
}

/// What detect hands to record (the pixels are not passed on, so they are freed as soon as detect returns).
public struct DetectedImage: Sendable {
    /// Dimensions of the oriented image.
    public var width: Int, height: Int
    public var detections: [Detection]
    /// The model that produced the detections.
    public var model: ModelIdentity
    /// Querying settings recorded with the results.
    public var settings: [String: String]
    /// The vocabulary version the image was queried with, if it was asked one.
    public var vocabulary: (id: Int, version: Int)?
}
