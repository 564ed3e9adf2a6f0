import Foundation
import Stages
@testable import Store
import TestSupport
import Testing

/// `pipelined render` draws what the daemon stored on the archived image; checked by pixels.
@Suite struct RenderCommandTests {
    @Test func renderDrawsTheStoredDetectionsOnTheArchivedImage() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "render")
        let daemon = try setup.start()
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
        try FileManager.default.createDirectory(atPath: setup.inbox + "/holiday", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: setup.inbox + "/holiday/beach.png", contents: TinyPNG.sample(seed: 21, width: 120, height: 90))
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let stored = try db.query(Statement("render.rows", "SELECT label, score, x0, y0, x1, y1 FROM detections_for_file WHERE original_name = 'holiday/beach.png' ORDER BY score DESC"))
        let best = try #require(stored.first)
        let config = try setup.config()

        let out = setup.dir.file("beach-boxes.png")
        let rendered = try runPipelined(["render", "--config", config, "--original-name", "holiday/beach.png", "--out", out, "--top", "1"])
        #expect(rendered.status == 0 && rendered.output.contains("1 detection drawn"), "\(rendered.output)")
        let image = try ImageDecoder().decode(file: out)
        #expect(image.width == 120 && image.height == 90)
        // The best box's left edge, half-way down, in its label's colour.
        let colour = DetectionPainter.colour(for: try best.string("label"))
        let (x, y) = (Int(try best.double("x0")), Int((try best.double("y0") + best.double("y1")) / 2))
        let p = image[min(max(x, 0), 119), y]
        #expect([p.0, p.1, p.2] == [colour.r, colour.g, colour.b], "pixel \(p) at \(x),\(y), label colour \(colour)")

        // By id, as JPEG, with filters that leave nothing: the image alone.
        let id = try #require(try db.image(arrivedAs: "holiday/beach.png")?.id)
        let none = try runPipelined(["render", "--config", config, "--image-id", "\(id)", "--out", setup.dir.file("x.jpg"), "--min-score", "1.1"])
        #expect(none.status == 0 && none.output.contains("0 detections drawn"), "\(none.output)")
        let unknown = try runPipelined(["render", "--config", config, "--original-name", "nope.png", "--out", setup.dir.file("y.png")])
        #expect(unknown.status != 0 && unknown.output.contains("no image arrived as 'nope.png'"), "\(unknown.output)")
        let both = try runPipelined(["render", "--config", config, "--out", setup.dir.file("z.png")])
        #expect(both.status != 0 && both.output.contains("--original-name or --image-id"), "\(both.output)")
    }
}
