/// The code version recorded in every provenance row.
public enum PipelinedVersion {
    public static let string = "0.1.0"
}
