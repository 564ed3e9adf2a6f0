import ArgumentParser
import Foundation
import Stages
import Store

/// Draws an image's stored detections on its archived copy.
struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw an image's stored detections (box, label, score) on the archived image; PNG or JPEG by --out's extension.")
    @OptionGroup var options: CommonOptions
    @Option(name: .customLong("original-name"), help: "The name it arrived under, relative to its inbox (as in detections_for_file).")
    var originalName: String?
    @Option(name: .customLong("from-inbox"), help: "With --original-name: only arrivals in this inbox.") var fromInbox: String?
    @Option(name: .customLong("image-id"), help: "The image's id (images.id).") var imageID: Int?
    @Option(name: .long, help: "The file to write (.png, .jpg or .jpeg).") var out: String
    @Option(name: .customLong("min-score"), help: "Only detections scoring at least this.") var minScore = 0.0
    @Option(name: .long, help: "Only the K best detections.") var top: Int?
    @Option(name: .long, help: "Only detections whose label contains this (any case).") var label: String?

    func validate() throws {
        guard (originalName == nil) != (imageID == nil) else { throw ValidationError("name the image with --original-name or --image-id (one of them)") }
        if let top, top < 0 { throw ValidationError("--top must be at least 0") }
    }

    func run() throws {
        let (image, detections, archiveRoot) = try options.withDatabase(readOnly: true) { config, _, database in
            guard let image = try imageID.map({ try database.image(id: $0) }) ?? database.image(arrivedAs: originalName ?? "", inbox: fromInbox) else {
                throw CommandFailure("no image \(imageID.map { "with id \($0)" } ?? "arrived as '\(originalName ?? "")'\(fromInbox.map { " in inbox \($0)" } ?? "")")")
            }
            return (image, try database.detections(imageID: image.id, minScore: minScore, label: label, limit: top), config.archiveRoot)
        }
        guard image.status != "quarantined" else {
            throw CommandFailure("image \(image.id) (\(image.originalName)) was quarantined: there is nothing to draw on")
        }
        let pixels = try ImageDecoder().decode(file: archiveRoot + "/" + image.archivePath)
        try DetectionPainter.write(pixels, boxes: detections.map {
            PaintedBox(x0: $0.x0, y0: $0.y0, x1: $0.x1, y1: $0.y1, label: $0.label, score: $0.score)
        }, to: out)
        print("\(out): image \(image.id) (\(image.inbox)/\(image.originalName)), \(detections.count) detection\(detections.count == 1 ? "" : "s") drawn")
    }
}
