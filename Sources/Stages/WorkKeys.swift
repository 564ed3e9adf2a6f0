import Detector
import Pipeline

/// The values stages pass to each other through a `WorkItem`.
public enum WorkKeys {
    /// Set by decode, dropped by detect once used.
    public static let image = WorkKey<RGBImage>("image")
    /// Dimensions of the oriented image, kept after the pixels are dropped.
    public static let size = WorkKey<(width: Int, height: Int)>("size")
    /// Set by detect.
    public static let detections = WorkKey<[Detection]>("detections")
    /// The model that produced the detections.
    public static let model = WorkKey<ModelIdentity>("model")
    /// Querying settings recorded with the results.
    public static let settings = WorkKey<[String: String]>("settings")
    /// The vocabulary version the image was queried with.
    public static let vocabulary = WorkKey<(id: Int, version: Int)>("vocabulary")
}
