import Detector
import Foundation
import Stages
import Testing

@Suite struct DetectionPainterTests {
    static let grey = RGBImage(width: 200, height: 150, pixels: [UInt8](repeating: 128, count: 200 * 150 * 3))
    static let box = PaintedBox(x0: 20, y0: 60, x1: 120, y1: 130, label: "cat", score: 0.87)

    static func rgb(_ c: (r: UInt8, g: UInt8, b: UInt8)) -> [UInt8] { [c.r, c.g, c.b] }
    static func at(_ image: RGBImage, _ x: Int, _ y: Int) -> [UInt8] { let p = image[x, y]; return [p.0, p.1, p.2] }

    @Test func aBoxEdgeHasItsLabelsColourAndTheInsideIsUntouched() throws {
        let painted = try DetectionPainter.paint(Self.grey, boxes: [Self.box])
        let cat = Self.rgb(DetectionPainter.colour(for: "cat"))
        #expect(Self.at(painted, 20, 95) == cat)      // left edge
        #expect(Self.at(painted, 119, 95) == cat)     // right edge
        #expect(Self.at(painted, 70, 129) == cat)     // bottom edge
        #expect(Self.at(painted, 70, 95) == [128, 128, 128])   // inside
        #expect(Self.at(painted, 170, 20) == [128, 128, 128])  // elsewhere
        // The tag above the box: its colour, with text of another colour on it.
        let tag = (44..<59).flatMap { y in (21..<60).map { Self.at(painted, $0, y) } }
        #expect(tag.filter { $0 == cat }.count > tag.count / 2 && tag.filter { $0 != cat }.count > 20, "\(tag)")
    }

    @Test func coloursAreStablePerLabelAndTellLabelsApart() {
        #expect(DetectionPainter.colour(for: "cat") == DetectionPainter.colour(for: "cat"))
        let labels = ["cat", "dog", "person", "car", "bicycle", "red star", "blue ring", "chair"]
        #expect(Set(labels.map { "\(DetectionPainter.colour(for: $0))" }).count >= 6)
    }

    /// A tag with no room above its box goes inside it; one at the right edge moves left; a box outside the image is
    /// clipped, an empty one skipped; long and hostile labels draw without trouble.
    @Test func boxesAtTheEdgesAndOddLabelsDraw() throws {
        let boxes = [PaintedBox(x0: 0, y0: 0, x1: 200, y1: 150, label: "whole", score: 1),
                     PaintedBox(x0: 180, y0: 40, x1: 400, y1: 60, label: String(repeating: "very long label ", count: 20), score: 0.5),
                     PaintedBox(x0: 50, y0: 50, x1: 50, y1: 90, label: "empty", score: 0.4),
                     PaintedBox(x0: -.infinity, y0: .nan, x1: 10, y1: 10, label: "<script>alert(1)</script>\u{0}", score: .nan)]
        let painted = try DetectionPainter.paint(Self.grey, boxes: boxes)
        #expect(Self.at(painted, 0, 100) == Self.rgb(DetectionPainter.colour(for: "whole")))
    }

    @Test func writesPNGAndJPEGThatDecodeWithTheBoxes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paint-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cat = DetectionPainter.colour(for: "cat")
        try DetectionPainter.write(Self.grey, boxes: [Self.box], to: dir + "/a.png")
        let png = try ImageDecoder().decode(file: dir + "/a.png")
        #expect(png.width == 200 && png.height == 150 && Self.at(png, 20, 95) == Self.rgb(cat))
        try DetectionPainter.write(Self.grey, boxes: [Self.box], to: dir + "/a.JPG")
        let jpeg = try ImageDecoder().decode(file: dir + "/a.JPG")
        let p = Self.at(jpeg, 21, 95)
        #expect(zip(p, Self.rgb(cat)).allSatisfy { abs(Int($0) - Int($1)) <= 40 }, "\(p) vs \(cat)")
        #expect(throws: PaintError.self) { try DetectionPainter.write(Self.grey, boxes: [], to: dir + "/missing/dir/a.png") }
    }
}
