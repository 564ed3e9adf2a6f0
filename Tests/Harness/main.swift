// A daemon for the end-to-end tests and the non-model benchmark: the real Daemon, Store, watcher and stages, with a
// test double in the detector's place. Not a product; the shipped `pipelined` has no fake detector.
//
//   pipelined-harness --config FILE [--detector whole|none] [--delay-ms N] [--run-log FILE] [--crash-on-width W]
//
// --crash-on-width W makes the double trap (as a numeric trap in a real detector would) on images W pixels wide:
// the poison of the crash-attribution tests.
import Detector
import Foundation
import Logging
import Pipeline
import Stages
import Store

/// The test double: one box over the whole image, scored by mean brightness, so results depend on the pixels.
/// `none` finds nothing (the benchmark's "detect stage doing nothing").
final class DoubleDetector: ImageDetector, @unchecked Sendable {
    let identity = ModelIdentity(name: "test-double", version: "1", weightsSHA256: String(repeating: "0", count: 64))
    var threshold: Float = 0.7
    let mode: String
    let delay: Double
    let runLog: FileHandle?
    let crashWidth: Int?

    init(mode: String, delay: Double, runLog: String?, crashWidth: Int?) {
        self.crashWidth = crashWidth
        self.mode = mode
        self.delay = delay
        if let runLog {
            FileManager.default.createFile(atPath: runLog, contents: nil)
            self.runLog = FileHandle(forWritingAtPath: runLog)
        } else {
            self.runLog = nil
        }
    }

    func detect(_ image: RGBImage, prompts: [String]) throws -> [Detection] {
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        if image.width == crashWidth { fatalError("poison image: \(image.width)×\(image.height)") }
        var sum = 0
        for v in image.pixels { sum += Int(v) }
        let checksum = "\(image.width)x\(image.height):\(sum)"
        if let runLog {
            runLog.seekToEndOfFile()
            runLog.write(Data("\(getpid()) \(checksum)\n".utf8))
        }
        guard mode == "whole" else { return [] }
        let score = Float(sum) / Float(image.pixels.count * 255)
        return (prompts.isEmpty ? ["image"] : prompts).map {
            Detection(box: Box(x0: 0, y0: 0, x1: Float(image.width), y1: Float(image.height)), score: score,
                      label: prompts.isEmpty ? "image" : $0, prompt: $0)
        }
    }

    /// One whole-image box per phrase, named after the phrase: enough to see the phrases travel to the database.
    func detect(_ image: RGBImage, caption: String, phrases: [Range<Int>]) throws -> [Detection] {
        let scalars = Array(caption.unicodeScalars)
        // Like a real model, a caption longer than it reads is refused.
        if scalars.count > 200 { throw DetectorError.promptTooLong(tokens: scalars.count, limit: 200) }
        return try phrases.flatMap { span in
            try detect(image, prompts: [caption]).map {
                Detection(box: $0.box, score: $0.score, label: String(String.UnicodeScalarView(scalars[span])), prompt: caption)
            }
        }
    }

    func detect(_ image: RGBImage, vocabulary query: VocabularyQuery, progress: ((Int, Int) -> Void)?) throws -> VocabularyAnswer {
        let found = try query.categories.flatMap { entry in
            try detect(image, prompts: [entry.prompt]).map {
                CategoryDetection(categoryID: entry.categoryID, prompt: entry.prompt, box: $0.box, score: $0.score)
            }
        }
        return VocabularyAnswer(detections: found, passes: query.categories.count)
    }
}

var configPath: String?
var mode = "whole"
var delay = 0.0
var runLog: String?
var crashWidth: Int?
var args = CommandLine.arguments.dropFirst().makeIterator()
while let arg = args.next() {
    switch arg {
    case "--config": configPath = args.next()
    case "--detector": mode = args.next() ?? mode
    case "--delay-ms": delay = (Double(args.next() ?? "0") ?? 0) / 1000
    case "--run-log": runLog = args.next()
    case "--crash-on-width": crashWidth = args.next().flatMap { Int($0) }
    default:
        FileHandle.standardError.write(Data("unknown argument \(arg)\n".utf8))
        exit(2)
    }
}

do {
    let config = try ConfigLoader.load(path: configPath)
    let level = Logger.Level(rawValue: config.logLevel) ?? .info
    LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level) }
    let logger = Logger(label: "pipelined-harness")
    let detector = DoubleDetector(mode: mode, delay: delay, runLog: runLog, crashWidth: crashWidth)
    let daemon = Daemon(config: config, configPath: configPath, logger: logger, labels: LabelImporter.daemonFactory) { database, config in
        StandardStages.make(database: database, config: config, detector: detector, prompts: ["image"])
    }
    exit(try daemon.run())
} catch {
    FileHandle.standardError.write(Data("pipelined-harness: \(error)\n".utf8))
    exit(1)
}
