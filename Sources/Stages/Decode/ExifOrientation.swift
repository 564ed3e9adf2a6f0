import Detector

/// EXIF orientation (tag 0x0112): how the stored pixels must be turned to show the picture upright.
/// 1 upright, 2 mirrored, 3 rotated 180°, 4 flipped, 5 transposed, 6 rotated 90° CW, 7 transversed, 8 rotated 90° CCW.
enum ExifOrientation {
    /// Finds the orientation in a JPEG's APP1 "Exif" segment, or nil.
    static func fromJPEG(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 2
        while i + 4 <= bytes.count {
            guard bytes[i] == 0xFF else { return nil }
            let marker = bytes[i + 1]
            if marker == 0xFF { i += 1; continue }               // fill byte
            if marker == 0xDA || marker == 0xD9 { return nil }  // start of scan / end of image: no EXIF before
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard length >= 2, i + 2 + length <= bytes.count else { return nil }
            let start = i + 4
            if marker == 0xE1, length >= 8,
               Array(bytes[start..<start + 6]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {  // "Exif\0\0"
                return fromTIFF(UnsafeRawBufferPointer(rebasing: bytes[(start + 6)..<(i + 2 + length)]))
            }
            i += 2 + length
        }
        return nil
    }

    /// Finds the orientation in a PNG's eXIf chunk (before the image data), or nil.
    static func fromPNG(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 8
        while i + 8 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            guard length >= 0, i + 8 + length <= bytes.count else { return nil }
            if type == "eXIf" { return fromTIFF(UnsafeRawBufferPointer(rebasing: bytes[(i + 8)..<(i + 8 + length)])) }
            if type == "IDAT" || type == "IEND" { return nil }
            i += 12 + length
        }
        return nil
    }

    /// Reads tag 0x0112 from IFD0 of a TIFF structure.
    static func fromTIFF(_ t: UnsafeRawBufferPointer) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<min(count, 512) {
            let o = ifd + 2 + entry * 12
            guard let tag = u16(o) else { return nil }
            if tag == 0x0112, u16(o + 2) == 3, let value = u16(o + 8) {
                return (1...8).contains(value) ? value : nil
            }
        }
        return nil
    }

    /// Returns the image turned upright.
    static func apply(_ orientation: Int, to image: RGBImage) -> RGBImage {
        guard orientation != 1, (2...8).contains(orientation) else { return image }
        let w = image.width, h = image.height
        let swaps = orientation >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        // (x, y) in the output comes from (sx, sy) in the stored image.
                        let sx: Int, sy: Int
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - x, y)
                        case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                        case 4: (sx, sy) = (x, h - 1 - y)
                        case 5: (sx, sy) = (y, x)
                        case 6: (sx, sy) = (y, h - 1 - x)
                        case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
                        default: (sx, sy) = (w - 1 - y, x)   // 8
                        }
                        let s = (sy * w + sx) * 3, d = (y * ow + x) * 3
                        dst[d] = src[s]
                        dst[d + 1] = src[s + 1]
                        dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}
