import CTurboJPEG
import Detector

/// JPEG through TurboJPEG (baseline, progressive, grayscale, CMYK/YCCK), with libjpeg's default accurate DCT and
/// fancy upsampling — the same pixels PIL gives.
enum JPEGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw DecodeError.corrupt(format: "JPEG", detail: "cannot initialise TurboJPEG") }
        defer { tjDestroy(handle) }
        let source = bytes.bindMemory(to: UInt8.self).baseAddress
        let size = UInt(bytes.count)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        if tjDecompressHeader3(handle, source, size, &width, &height, &subsampling, &colorspace) != 0 {
            throw classify(handle, bytes)
        }
        try limits.check(width: Int(width), height: Int(height))
        // Bounds progressive scans so a crafted file cannot make decoding take minutes.
        let flags = TJFLAG_LIMITSCANS
        let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let channels = cmyk ? 4 : 3
        var buffer = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let status = buffer.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, source, size, out.baseAddress, width, 0, height,
                          Int32(cmyk ? TJPF_CMYK.rawValue : TJPF_RGB.rawValue), flags)
        }
        if status != 0 {
            let error = classify(handle, bytes)
            // Only a warning about damaged-but-complete data is tolerated; missing data is not.
            if tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) { throw error }
            if case .truncated = error { throw error }
        }
        if cmyk { buffer = cmykToRGB(buffer, adobeInverted: hasAdobeMarker(bytes)) }
        let image = RGBImage(width: Int(width), height: Int(height), pixels: buffer)
        return ExifOrientation.apply(ExifOrientation.fromJPEG(bytes) ?? 1, to: image)
    }

    /// libjpeg describes a cut-short file only by its symptom ("missing SOS marker", "premature end of data");
    /// with no end-of-image marker at the end, that symptom means truncation.
    private static func classify(_ handle: tjhandle, _ bytes: UnsafeRawBufferPointer) -> DecodeError {
        let message = String(cString: tjGetErrorStr2(handle))
        let lower = message.lowercased()
        let endsWithEOI = bytes.count >= 2 && bytes[bytes.count - 2] == 0xFF && bytes[bytes.count - 1] == 0xD9
        let missingData = lower.contains("premature end") || lower.contains("truncated")
            || lower.contains("missing sos") || lower.contains("end of")
        if missingData && !endsWithEOI {
            return .truncated(format: "JPEG", detail: message)
        }
        return .corrupt(format: "JPEG", detail: message)
    }

    /// Photoshop and most tools write CMYK JPEGs inverted and mark them with an Adobe APP14 segment.
    private static func hasAdobeMarker(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 2
        while i + 4 <= bytes.count, bytes[i] == 0xFF {
            let marker = bytes[i + 1]
            if marker == 0xDA { return false }
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if marker == 0xEE, length >= 7, i + 9 <= bytes.count,
               Array(bytes[(i + 4)..<(i + 9)]) == Array("Adobe".utf8) { return true }
            i += 2 + length
        }
        return false
    }

    /// Naive CMYK → RGB (no colour profile), as PIL does.
    private static func cmykToRGB(_ cmyk: [UInt8], adobeInverted: Bool) -> [UInt8] {
        let n = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: n * 3)
        for p in 0..<n {
            var c = Int(cmyk[4 * p]), m = Int(cmyk[4 * p + 1]), y = Int(cmyk[4 * p + 2]), k = Int(cmyk[4 * p + 3])
            if !adobeInverted { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k }
            // Inverted values: 255 means no ink.
            rgb[3 * p] = UInt8(c * k / 255)
            rgb[3 * p + 1] = UInt8(m * k / 255)
            rgb[3 * p + 2] = UInt8(y * k / 255)
        }
        return rgb
    }
}
