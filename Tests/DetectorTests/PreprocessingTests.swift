import Foundation
import Testing
@testable import Detector

@Suite struct PreprocessingTests {
    struct Case: Decodable {
        let `in`: [Int]
        let out: [Int]
        let fnv1a: String
        let first: [Int]
        let sum: Int
    }

    static func pattern(_ w: Int, _ h: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            pixels[(y * w + x) * 3 + c] = UInt8((x * x * 3 + y * 7 + c * 85 + (x * y) / 5) % 256)
        } } }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }

    @Test func bilinearResizeIsPillowsBitForBit() throws {
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("resize/expected.json")))
        #expect(cases.count == 6)
        for c in cases {
            let out = PillowResize.bilinear(Self.pattern(c.in[0], c.in[1]), width: c.out[0], height: c.out[1])
            #expect(out.width == c.out[0] && out.height == c.out[1])
            #expect(Array(out.pixels.prefix(30).map(Int.init)) == c.first, "\(c.in) → \(c.out): first pixels")
            #expect(out.pixels.reduce(0) { $0 + Int($1) } == c.sum, "\(c.in) → \(c.out): sum")
            #expect(String(Self.fnv1a(out.pixels)) == c.fnv1a, "\(c.in) → \(c.out): bytes differ from Pillow's")
        }
    }

    @Test func evalSizeFollowsMDETR() {
        #expect(Preprocessing.evalSize(width: 640, height: 480) == (1066, 800))
        #expect(Preprocessing.evalSize(width: 1200, height: 700) == (1333, 778))
        #expect(Preprocessing.evalSize(width: 480, height: 800) == (800, 1333))
        #expect(Preprocessing.evalSize(width: 800, height: 1000) == (800, 1000))
        #expect(Preprocessing.evalSize(width: 100, height: 1000) == (133, 1330))
    }
}
