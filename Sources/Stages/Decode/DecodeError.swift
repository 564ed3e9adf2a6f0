/// Why an image cannot be decoded. Every case becomes the quarantine reason, so each reads as a sentence a user
/// can act on.
public enum DecodeError: Error, CustomStringConvertible, Equatable {
    case empty
    case unreadable(path: String, reason: String)
    /// `format` names what the file looks like ("GIF", "HTML", "text", "unknown format"); never its bytes.
    case unknownFormat(format: String)
    case fileTooLarge(bytes: Int, limit: Int)
    case dimensionsTooLarge(width: Int, height: Int, maxSide: Int)
    case tooManyPixels(width: Int, height: Int, limit: Int)
    case invalidDimensions(width: Int, height: Int)
    case truncated(format: String, detail: String)
    case corrupt(format: String, detail: String)

    public var description: String {
        switch self {
        case .empty:
            return "empty file (0 bytes)"
        case let .unreadable(path, reason):
            return "cannot read \(path): \(reason)"
        case let .unknownFormat(format):
            return format == "unknown format" ? "not a JPEG or PNG image (unknown format)"
                : "not a JPEG or PNG image: the file looks like \(format)"
        case let .fileTooLarge(bytes, limit):
            return "file is \(bytes) bytes, over the limit of \(limit) bytes (limits.max_file_bytes)"
        case let .dimensionsTooLarge(width, height, maxSide):
            return "image is \(width)×\(height) pixels, a side over the limit of \(maxSide) (limits.max_side)"
        case let .tooManyPixels(width, height, limit):
            return "image is \(width)×\(height) = \(width * height) pixels, over the limit of \(limit) (limits.max_pixels)"
        case let .invalidDimensions(width, height):
            return "image header gives impossible dimensions \(width)×\(height)"
        case let .truncated(format, detail):
            return "truncated \(format): \(detail)"
        case let .corrupt(format, detail):
            return "corrupt \(format): \(detail)"
        }
    }
}
