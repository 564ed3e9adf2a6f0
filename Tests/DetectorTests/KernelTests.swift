import Foundation
import Testing
@testable import Detector

/// Kernels against straightforward references.
@Suite struct KernelTests {
    @Test func polynomialExpIsWithinTwoTenthsOfAMillionthOfExpf() {
        var xs: [Float] = []
        var x: Float = -87
        while x < 88 { xs.append(x); x += 0.00731 }
        var values = xs
        let sum = values.withUnsafeMutableBufferPointer { Vector.expShifted($0.baseAddress!, $0.count, shift: 0) }
        var worst: Float = 0
        for (x, v) in zip(xs, values) { worst = max(worst, abs(v - expf(x)) / expf(x)) }
        #expect(worst < 2e-7, "worst relative error \(worst)")
        var small: [Float] = [0, 1, 2, -1]
        let smallSum = small.withUnsafeMutableBufferPointer { Vector.expShifted($0.baseAddress!, 4, shift: 1) }
        #expect(abs(smallSum - (expf(-1) + 1 + expf(1) + expf(-2))) < 1e-5)
        _ = sum
        var tiny: [Float] = [-300, -100, 0]
        _ = tiny.withUnsafeMutableBufferPointer { Vector.expShifted($0.baseAddress!, 3, shift: 0) }
        #expect(tiny[0] < 1e-37 && tiny[2] == 1)
    }

    @Test(arguments: [3, 20])
    func convolutionMatchesADirectLoop(channels c: Int) {
        // Dense 3×3 stride 1 and 2, TF-same and symmetric padding, with bias, against a naive loop; with 20 input
        // channels the stride-1 symmetric case runs through Winograd F(2×2, 3×3), odd sizes included.
        for (stride, padding) in [(1, Padding.symmetric(1)), (2, .symmetric(1)), (2, .tfSame), (1, .tfSame)] {
            let o = 5, h = 9, w = 11
            let x = Tensor(shape: [c, h, w], data: (0..<(c * h * w)).map { Float(($0 * 37) % 19) / 7 - 1 })
            let weight = Tensor(shape: [o, c, 3, 3], data: (0..<(o * c * 9)).map { Float(($0 * 13) % 11) / 5 - 1 })
            let bias = Tensor(shape: [o], data: (0..<o).map { Float($0) / 3 })
            let conv = Conv2D(weight: weight, bias: bias, stride: stride, padding: padding).preparedForInference()
            #expect((conv.winograd != nil) == (c >= 16 && stride == 1 && padding == .symmetric(1)))
            let y = conv(x)
            let (pt, _, ho) = padding.resolve(input: h, kernel: 3, stride: stride)
            let (pl, _, wo) = padding.resolve(input: w, kernel: 3, stride: stride)
            var ref = Tensor(zeros: [o, ho, wo])
            for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
                var s = bias.data[oc]
                for ic in 0..<c { for ky in 0..<3 { for kx in 0..<3 {
                    let iy = oy * stride - pt + ky, ix = ox * stride - pl + kx
                    if iy >= 0 && iy < h && ix >= 0 && ix < w { s += weight[oc, ic, ky, kx] * x[ic, iy, ix] }
                } } }
                ref[oc, oy, ox] = s
            } } }
            expectClose(y, ref, tolerance: 1e-4, "conv \(c) channels stride \(stride) \(padding)")
        }
    }

    @Test func depthwiseConvolutionMatchesADirectLoop() {
        for (k, stride, padding) in [(3, 1, Padding.symmetric(1)), (5, 2, .tfSame), (3, 2, .tfSame), (5, 1, .tfSame),
                                     (3, 2, .symmetric(1))] {
            // Widths below, at and beyond one 16-lane chunk, and a partial last chunk.
            for (h, w) in [(9, 11), (10, 12), (7, 4), (6, 16), (5, 37), (3, 48), (4, 70), (3, 140)] {
                let c = 6
                let x = Tensor(shape: [c, h, w], data: (0..<(c * h * w)).map { Float(($0 * 37) % 19) / 7 - 1 })
                let weight = Tensor(shape: [c, 1, k, k], data: (0..<(c * k * k)).map { Float(($0 * 13) % 11) / 5 - 1 })
                let bias = Tensor(shape: [c], data: (0..<c).map { Float($0) / 3 })
                let y = Conv2D(weight: weight, bias: bias, stride: stride, padding: padding, groups: c)(x)
                let (pt, _, ho) = padding.resolve(input: h, kernel: k, stride: stride)
                let (pl, _, wo) = padding.resolve(input: w, kernel: k, stride: stride)
                var ref = Tensor(zeros: [c, ho, wo])
                for ch in 0..<c { for oy in 0..<ho { for ox in 0..<wo {
                    var s = bias.data[ch]
                    for ky in 0..<k { for kx in 0..<k {
                        let iy = oy * stride - pt + ky, ix = ox * stride - pl + kx
                        if iy >= 0 && iy < h && ix >= 0 && ix < w { s += weight[ch, 0, ky, kx] * x[ch, iy, ix] }
                    } }
                    ref[ch, oy, ox] = s
                } } }
                expectClose(y, ref, tolerance: 1e-5, "depthwise k\(k) s\(stride) \(padding) \(h)×\(w)")
            }
        }
    }
}
