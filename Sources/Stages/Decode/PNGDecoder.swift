import CPNG
import Detector

/// PNG through libpng's simplified API (palette, grayscale, alpha, 16-bit all expand to 8-bit RGBA); alpha is then
/// dropped, as PIL's `convert("RGB")` does. libpng's simplified API reports errors by return value, not longjmp.
enum PNGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws -> RGBImage {
        // png_image is referred to by libpng's internal state: it needs a stable heap address.
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        image.initialize(to: png_image())
        defer {
            png_image_free(image)
            image.deallocate()
        }
        image.pointee.version = CPNG_IMAGE_VERSION
        guard png_image_begin_read_from_memory(image, bytes.baseAddress, bytes.count) != 0 else {
            throw failure(image)
        }
        let width = Int(image.pointee.width), height = Int(image.pointee.height)
        try limits.check(width: width, height: height)
        image.pointee.format = CPNG_FORMAT_RGBA
        // 16-bit files without gamma information hold sRGB values, not linear light.
        image.pointee.flags |= CPNG_IMAGE_FLAG_16BIT_sRGB
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let ok = rgba.withUnsafeMutableBytes { out in
            png_image_finish_read(image, nil, out.baseAddress, 0, nil)
        }
        guard ok != 0 else { throw failure(image) }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        rgba.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                for p in 0..<(width * height) {
                    dst[3 * p] = src[4 * p]
                    dst[3 * p + 1] = src[4 * p + 1]
                    dst[3 * p + 2] = src[4 * p + 2]
                }
            }
        }
        let decoded = RGBImage(width: width, height: height, pixels: rgb)
        return ExifOrientation.apply(ExifOrientation.fromPNG(bytes) ?? 1, to: decoded)
    }

    private static func failure(_ image: UnsafeMutablePointer<png_image>) -> DecodeError {
        let message = withUnsafeBytes(of: image.pointee.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let lower = message.lowercased()
        if lower.contains("truncat") || lower.contains("not enough") || lower.contains("eof")
            || lower.contains("read error") || lower.contains("end of") {
            return .truncated(format: "PNG", detail: message)
        }
        return .corrupt(format: "PNG", detail: message.isEmpty ? "libpng rejected the file" : message)
    }
}
