import Detector
import Foundation

/// JPEG or PNG bytes to upright RGB, within limits. Everything that can go wrong with a user's file is a
/// `DecodeError`.
public struct ImageDecoder: Sendable {
    public let limits: DecodeLimits

    public init(limits: DecodeLimits = DecodeLimits()) {
        self.limits = limits
    }

    public func decode(_ data: Data) throws -> RGBImage {
        guard !data.isEmpty else { throw DecodeError.empty }
        guard data.count <= limits.maxFileBytes else {
            throw DecodeError.fileTooLarge(bytes: data.count, limit: limits.maxFileBytes)
        }
        return try data.withUnsafeBytes { bytes in
            if bytes.starts(with: [0xFF, 0xD8]) {  // SOI; what follows is the decoder's to judge
                return try JPEGDecoder.decode(bytes, limits: limits)
            }
            if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
                return try PNGDecoder.decode(bytes, limits: limits)
            }
            throw DecodeError.unknownFormat(format: FileFormat.describe(bytes))
        }
    }

    /// Reads and decodes a file, checking its size before reading it.
    public func decode(file path: String) throws -> RGBImage {
        try decode(try read(file: path))
    }

    /// A file's bytes, its size checked against the limit before it is read.
    public func read(file path: String) throws -> Data {
        // stat/open errors as the system words them ("No such file or directory"), not Foundation's domain dump.
        var info = stat()
        guard stat(path, &info) == 0 else { throw DecodeError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw DecodeError.unreadable(path: path, reason: info.st_mode & S_IFMT == S_IFDIR
                ? "it is a directory, not an image file" : "not a regular file")
        }
        let size = Int(info.st_size)
        guard size <= limits.maxFileBytes else { throw DecodeError.fileTooLarge(bytes: size, limit: limits.maxFileBytes) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DecodeError.unreadable(path: path, reason: access(path, R_OK) == 0 ? "read failed" : String(cString: strerror(errno)))
        }
        return data
    }
}
