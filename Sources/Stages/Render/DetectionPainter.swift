import CCairo
import Detector
import Foundation
import Pipeline

/// One box to draw: pixel coordinates of the image it is drawn on, its label and score.
public struct PaintedBox: Sendable, Equatable {
    public var x0, y0, x1, y1: Double
    public var label: String
    public var score: Double

    public init(x0: Double, y0: Double, x1: Double, y1: Double, label: String, score: Double) {
        (self.x0, self.y0, self.x1, self.y1, self.label, self.score) = (x0, y0, x1, y1, label, score)
    }
}

public enum PaintError: Error, CustomStringConvertible {
    case cairo(String)
    case write(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cairo(reason): return "drawing failed: \(reason)"
        case let .write(path, reason): return "cannot write \(path): \(reason)"
        }
    }
}

/// Draws detections on an image with Cairo: each box outlined in its label's colour, with "label 0.87" on a tag of the
/// same colour above it (inside the box when there is no room above) in DejaVu Sans, dark or light text by the tag's
/// luminance, so it reads on any background. Colours are stable per label, so the same label looks the same on every
/// image. Strokes and text scale with the image.
public enum DetectionPainter {
    /// The label's colour (`LabelColour`: the results page uses the same).
    public static func colour(for label: String) -> (r: UInt8, g: UInt8, b: UInt8) { LabelColour.of(label) }

    /// The image with `boxes` drawn on it.
    public static func paint(_ image: RGBImage, boxes: [PaintedBox]) throws -> RGBImage {
        let surface = try makeSurface(image)
        defer { cairo_surface_destroy(surface) }
        try draw(boxes, on: surface, width: image.width, height: image.height)
        return pixels(of: surface, width: image.width, height: image.height)
    }

    /// Paints and writes `path`: JPEG for `.jpg`/`.jpeg` (libjpeg-turbo), PNG otherwise (Cairo's writer).
    public static func write(_ image: RGBImage, boxes: [PaintedBox], to path: String) throws {
        let lower = path.lowercased()
        if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") {
            let bytes = try JPEGEncoder.encode(try paint(image, boxes: boxes), quality: 92)
            do { try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw PaintError.write(path: path, reason: "\(error)")
            }
            return
        }
        let surface = try makeSurface(image)
        defer { cairo_surface_destroy(surface) }
        try draw(boxes, on: surface, width: image.width, height: image.height)
        let status = cairo_surface_write_to_png(surface, path)
        guard status == CAIRO_STATUS_SUCCESS else { throw PaintError.write(path: path, reason: String(cString: cairo_status_to_string(status))) }
    }

    /// An RGB24 surface holding the image: one native-endian 32-bit word per pixel, 0x00RRGGBB.
    private static func makeSurface(_ image: RGBImage) throws -> OpaquePointer {
        let (w, h) = (image.width, image.height)
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(w), Int32(h)) else {
            throw PaintError.cairo("no surface")
        }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            defer { cairo_surface_destroy(surface) }
            throw PaintError.cairo(String(cString: cairo_status_to_string(cairo_surface_status(surface))))
        }
        let stride = Int(cairo_image_surface_get_stride(surface))
        cairo_surface_flush(surface)
        let data = cairo_image_surface_get_data(surface)!
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<h {
                let row = UnsafeMutableRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
                for x in 0..<w {
                    let i = (y * w + x) * 3
                    row[x] = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8 | UInt32(src[i + 2])
                }
            }
        }
        cairo_surface_mark_dirty(surface)
        return surface
    }

    private static func pixels(of surface: OpaquePointer, width w: Int, height h: Int) -> RGBImage {
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let row = UnsafeMutableRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<w {
                let p = row[x], i = (y * w + x) * 3
                out[i] = UInt8(truncatingIfNeeded: p >> 16)
                out[i + 1] = UInt8(truncatingIfNeeded: p >> 8)
                out[i + 2] = UInt8(truncatingIfNeeded: p)
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    private static func draw(_ boxes: [PaintedBox], on surface: OpaquePointer, width w: Int, height h: Int) throws {
        let cr = cairo_create(surface)
        defer { cairo_destroy(cr) }
        let scale = Double(min(w, h))
        let line = max(2, (scale / 250).rounded())
        let fontSize = max(11, scale / 45)
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD)
        cairo_set_font_size(cr, fontSize)
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE)   // box edges in exactly the label's colour
        for box in boxes {
            let c = colour(for: box.label)
            let (r, g, b) = (Double(c.r) / 255, Double(c.g) / 255, Double(c.b) / 255)
            let x0 = min(max(box.x0, 0), Double(w)), x1 = min(max(box.x1, 0), Double(w))
            let y0 = min(max(box.y0, 0), Double(h)), y1 = min(max(box.y1, 0), Double(h))
            guard x1 > x0, y1 > y0 else { continue }
            cairo_set_source_rgb(cr, r, g, b)
            cairo_set_line_width(cr, line)
            cairo_rectangle(cr, x0 + line / 2, y0 + line / 2, max(x1 - x0 - line, 1), max(y1 - y0 - line, 1))
            cairo_stroke(cr)

            let text = "\(box.label) \(String(format: "%.2f", box.score))"
            var extents = cairo_text_extents_t()
            cairo_text_extents(cr, text, &extents)
            let pad = (fontSize / 4).rounded()
            let tagWidth = min(extents.x_advance + 2 * pad, Double(w))
            let tagHeight = fontSize + 2 * pad
            let tagX = max(0, min(x0, Double(w) - tagWidth))       // shifted left rather than cut at the right edge
            let tagY = y0 - tagHeight >= 0 ? y0 - tagHeight : y0   // above the box, or inside its top edge
            cairo_rectangle(cr, tagX, tagY, tagWidth, tagHeight)
            cairo_fill(cr)
            // Relative luminance (sRGB weights): dark text on light tags, white on dark ones.
            let luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
            if luminance > 0.55 { cairo_set_source_rgb(cr, 0.05, 0.05, 0.05) } else { cairo_set_source_rgb(cr, 1, 1, 1) }
            cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT)
            cairo_save(cr)
            cairo_rectangle(cr, tagX, tagY, tagWidth, tagHeight)
            cairo_clip(cr)
            cairo_move_to(cr, tagX + pad, tagY + pad + fontSize * 0.8)
            cairo_show_text(cr, text)
            cairo_restore(cr)
            cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE)
        }
        guard cairo_status(cr) == CAIRO_STATUS_SUCCESS else { throw PaintError.cairo(String(cString: cairo_status_to_string(cairo_status(cr)))) }
    }
}
