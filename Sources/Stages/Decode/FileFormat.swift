/// Names what a file that is not a JPEG or PNG looks like, from its first bytes, without ever repeating them: a
/// rejection reason is stored and shown, and the bytes may be anyone's (a hard link to a root-only file in the inbox).
enum FileFormat {
    /// Magic numbers of formats people drop by mistake.
    private static let signatures: [(String, [UInt8?])] = [
        ("GIF", Array("GIF8".utf8)),
        ("WebP", Array("RIFF".utf8) + [nil, nil, nil, nil] + Array("WEBP".utf8)),
        ("BMP", Array("BM".utf8)),
        ("TIFF", [0x49, 0x49, 0x2A, 0x00]),
        ("TIFF", [0x4D, 0x4D, 0x00, 0x2A]),
        ("HEIF/AVIF", [nil, nil, nil, nil] + Array("ftyp".utf8)),
        ("JPEG 2000", [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]),
        ("JPEG XL", [0xFF, 0x0A]),
        ("ICO", [0x00, 0x00, 0x01, 0x00]),
        ("PDF", Array("%PDF".utf8)),
        ("PostScript", Array("%!PS".utf8)),
        ("ZIP archive", [0x50, 0x4B, 0x03, 0x04]),
        ("gzip archive", [0x1F, 0x8B]),
        ("xz archive", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]),
        ("7-Zip archive", [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]),
        ("executable (ELF)", [0x7F, 0x45, 0x4C, 0x46]),
        ("Photoshop document", Array("8BPS".utf8)),
    ]

    /// "GIF", "HTML", "text", … or "unknown format".
    static func describe<C: Collection>(_ head: C) -> String where C.Element == UInt8 {
        let bytes = Array(head.prefix(512))
        if bytes.isEmpty { return "empty" }
        for (name, signature) in signatures where bytes.count >= signature.count {
            if zip(bytes, signature).allSatisfy({ $1 == nil || $0 == $1 }) { return name }
        }
        // Markup and text: look past a UTF-8 byte-order mark and leading white space.
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while start < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[start]) { start += 1 }
        let lowered = String(decoding: bytes[start...].prefix(64), as: UTF8.self).lowercased()
        if lowered.hasPrefix("<!doctype html") || lowered.hasPrefix("<html") { return "HTML" }
        if lowered.hasPrefix("<svg") || (lowered.hasPrefix("<?xml") && lowered.contains("svg")) { return "SVG" }
        if lowered.hasPrefix("<?xml") { return "XML" }
        if lowered.hasPrefix("{") || lowered.hasPrefix("[") { return looksLikeText(bytes) ? "JSON or text" : "unknown format" }
        return looksLikeText(bytes) ? "text" : "unknown format"
    }

    /// Valid UTF-8 without control characters other than white space.
    private static func looksLikeText(_ bytes: [UInt8]) -> Bool {
        // The sample may end inside a multi-byte character: drop up to three trailing bytes before validating.
        for cut in 0...min(3, bytes.count - 1) {
            let sample = bytes.dropLast(cut)
            guard let text = String(validating: sample, as: UTF8.self) else { continue }
            return text.unicodeScalars.allSatisfy { $0.value >= 0x20 || [0x09, 0x0A, 0x0D].contains($0.value) }
        }
        return false
    }
}
