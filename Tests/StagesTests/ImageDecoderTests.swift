import Detector
import Foundation
import Stages
import TestSupport
import Testing

/// The decoder against PIL, the reference: fixtures and expected values come from tools/make_decoder_fixtures.py.
@Suite struct ImageDecoderTests {
    struct Summary: Decodable {
        let width: Int
        let height: Int
        let mean: [Double]
        let samples: [[Int]]
    }

    struct Expected: Decodable {
        let good: [String: Summary]
        let samples: [String: Summary]
        let broken: [String: String]
    }

    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/decoder")
    static let expected: Expected = {
        let data = try! Data(contentsOf: root.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode(Expected.self, from: data)
    }()

    /// Compares with PIL: same size, channel means within `meanTolerance`, sampled pixels within `pixelTolerance`
    /// (libjpeg versions may round a few pixels differently). Prints the offending numbers on failure.
    func check(_ image: RGBImage, against want: Summary, _ name: String, meanTolerance: Double = 0.6,
               pixelTolerance: Int = 3) {
        #expect(image.width == want.width && image.height == want.height,
                "\(name): got \(image.width)×\(image.height), PIL \(want.width)×\(want.height)")
        guard image.width == want.width && image.height == want.height else { return }
        var sums = [0.0, 0.0, 0.0]
        for (i, v) in image.pixels.enumerated() { sums[i % 3] += Double(v) }
        let means = sums.map { $0 / Double(image.width * image.height) }
        let meanDiff = zip(means, want.mean).map { abs($0 - $1) }.max()!
        #expect(meanDiff <= meanTolerance, "\(name): channel means \(means) vs PIL \(want.mean)")
        var worst = 0
        var firstBad: [String] = []
        for s in want.samples {
            let (r, g, b) = image[s[0], s[1]]
            let d = max(abs(Int(r) - s[2]), abs(Int(g) - s[3]), abs(Int(b) - s[4]))
            worst = max(worst, d)
            if d > pixelTolerance && firstBad.count < 4 { firstBad.append("(\(s[0]),\(s[1])): \(r),\(g),\(b) vs \(s[2]),\(s[3]),\(s[4])") }
        }
        #expect(worst <= pixelTolerance, "\(name): max sampled pixel diff \(worst); first: \(firstBad)")
    }

    @Test(arguments: expected.good.keys.sorted())
    func decodesEveryVariantLikePIL(_ name: String) throws {
        let image = try ImageDecoder().decode(file: Self.root.appendingPathComponent("good/\(name)").path)
        check(image, against: Self.expected.good[name]!, name)
    }

    @Test(arguments: expected.samples.keys.sorted())
    func decodesScikitImageSamplePhotos(_ name: String) throws {
        let dir = try #require(ProcessInfo.processInfo.environment["PIPELINED_SAMPLE_PHOTOS"],
                               "PIPELINED_SAMPLE_PHOTOS is set by tools/setup.sh test")
        let image = try ImageDecoder().decode(file: dir + "/" + name)
        check(image, against: Self.expected.samples[name]!, name)
    }

    @Test(arguments: expected.broken.keys.sorted())
    func rejectsBrokenFilesWithAReason(_ name: String) throws {
        let want = Self.expected.broken[name]!
        #expect {
            _ = try ImageDecoder().decode(file: Self.root.appendingPathComponent("broken/\(name)").path)
        } throws: { error in
            guard let error = error as? DecodeError else { return false }
            let kind = "\(error)"
            let matches: Bool
            switch error {
            case .empty: matches = want == "empty"
            case .unknownFormat: matches = want == "unknownFormat"
            case .truncated: matches = want == "truncated"
            case .corrupt, .invalidDimensions: matches = want == "corrupt"
            case .dimensionsTooLarge: matches = want == "dimensionsTooLarge"
            case .tooManyPixels: matches = want == "tooManyPixels"
            case .fileTooLarge: matches = want == "fileTooLarge"
            case .unreadable: matches = want == "unreadable"
            }
            if !matches { Issue.record("\(name): expected \(want), got \(kind)") }
            return matches && !kind.isEmpty
        }
    }

    /// A rejection reason is stored and shown to whoever reads `failures`: it names the format, never the bytes
    /// (it once said "file starts with 72 6f 6f 74 3a 78 3a 30", the first bytes of /etc/passwd).
    @Test(arguments: [
        ("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n", "text"),
        ("<!DOCTYPE html><html><body>secret</body></html>", "HTML"),
        ("GIF89a\u{01}\u{00}\u{01}\u{00}secret", "GIF"),
        ("RIFF\u{10}\u{00}\u{00}\u{00}WEBPVP8 secret", "WebP"),
        ("BMsecret-bitmap", "BMP"),
        ("%PDF-1.7 secret", "PDF"),
        ("{\"password\": \"hunter2\"}", "JSON or text"),
    ])
    func unknownFormatsAreNamedWithoutEchoingContent(_ sample: (String, String)) throws {
        let (content, format) = sample
        #expect {
            _ = try ImageDecoder().decode(Data(content.utf8))
        } throws: { error in
            let reason = "\(error)"
            let hex = Data(content.utf8).prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            let leaked = ["root", "secret", "hunter2", hex].filter { reason.contains($0) }
            if !leaked.isEmpty { Issue.record("reason \"\(reason)\" repeats content: \(leaked)") }
            return error as? DecodeError == .unknownFormat(format: format) && leaked.isEmpty
        }
    }

    @Test func binaryGarbageIsAnUnknownFormat() {
        let bytes = Data((0..<256).map { UInt8(($0 * 37 + 11) % 256) })
        #expect(throws: DecodeError.unknownFormat(format: "unknown format")) { _ = try ImageDecoder().decode(bytes) }
    }

    /// Hostile input is normal input: damaged copies of every fixture (bytes flipped in the headers and anywhere,
    /// cut short, lengths and dimensions overwritten) decode or fail with a `DecodeError`, never trap or crash the
    /// process. Deterministic, so a failure reproduces.
    @Test(arguments: expected.good.keys.sorted())
    func damagedFilesFailWithAReasonNeverATrap(_ name: String) throws {
        let original = try [UInt8](Data(contentsOf: Self.root.appendingPathComponent("good/\(name)")))
        var rng = SplitMix64(seed: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
        let decoder = ImageDecoder(limits: DecodeLimits(maxFileBytes: 1 << 20, maxSide: 4096, maxPixels: 4_000_000))
        for round in 0..<300 {
            var bytes = original
            switch round % 4 {
            case 0:   // a few bytes flipped among the first 256 (headers, chunk lengths, markers)
                for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(min(256, bytes.count)))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 1:   // bytes anywhere
                for _ in 0..<(1 + rng.next() % 16) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 2:   // cut short
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            default:  // a 16- or 32-bit field near the start set to an extreme (dimensions, lengths)
                let at = Int(rng.next() % UInt64(max(1, min(64, bytes.count - 4))))
                let extreme: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0x7F, 0xFF, 0xFF, 0xFF], [0x80, 0, 0, 1]][Int(rng.next() % 4)]
                for k in 0..<min(4, bytes.count - at) { bytes[at + k] = extreme[k] }
            }
            do {
                let image = try decoder.decode(Data(bytes))
                #expect(image.width > 0 && image.height > 0 && image.pixels.count == image.width * image.height * 3)
            } catch is DecodeError {
            } catch {
                Issue.record("\(name) round \(round): \(type(of: error)) \(error)")
            }
        }
    }

    @Test func aMissingFileIsNamedWithTheSystemsReason() {
        #expect(throws: DecodeError.unreadable(path: "/nonexistent/x.jpg", reason: "No such file or directory")) {
            _ = try ImageDecoder().decode(file: "/nonexistent/x.jpg")
        }
    }

    /// It used to say "read failed".
    @Test func aDirectoryIsNamedAsOne() {
        #expect(throws: DecodeError.unreadable(path: "/tmp", reason: "it is a directory, not an image file")) {
            _ = try ImageDecoder().decode(file: "/tmp")
        }
    }

    @Test func fileSizeLimitIsCheckedBeforeReading() throws {
        let decoder = ImageDecoder(limits: DecodeLimits(maxFileBytes: 100))
        #expect(throws: DecodeError.fileTooLarge(bytes: 1194, limit: 100)) {
            _ = try decoder.decode(file: Self.root.appendingPathComponent("good/baseline.jpg").path)
        }
    }
}
