import CTurboJPEG
import Detector

/// RGB pixels to a baseline JPEG (4:2:0 chroma, libjpeg's accurate DCT), for files the tools write: the synthetic
/// benchmark's images. Deterministic: the same pixels and quality give the same bytes.
public enum JPEGEncoder {
    public enum Failure: Error, CustomStringConvertible {
        case turbo(String)
        public var description: String {
            switch self { case let .turbo(message): return "JPEG encoding failed: \(message)" }
        }
    }

    public static func encode(_ image: RGBImage, quality: Int = 92) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw Failure.turbo("cannot initialise TurboJPEG") }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &output, &size, Int32(TJSAMP_420.rawValue), Int32(quality), TJFLAG_ACCURATEDCT)
        }
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else { throw Failure.turbo(String(cString: tjGetErrorStr2(handle))) }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}
