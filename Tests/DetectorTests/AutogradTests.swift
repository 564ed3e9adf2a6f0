@testable import Detector
import Foundation
import Testing

/// Every differentiable op against central finite differences: loss = Σ op(x) ⊙ R for a fixed random R, the
/// analytic gradient of each input compared element by element (up to 48 per input) with
/// (L(x + h) − L(x − h)) / 2h.
@Suite struct AutogradTests {
    struct Rand {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 40) / Double(1 << 24)) * 2 - 1
        }
        mutating func tensor(_ shape: [Int], scale: Float = 1, offset: Float = 0) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in next() * scale + offset })
        }
    }

    func check(_ name: String, _ inputs: [Tensor], h: Float = 1e-3, tolerance: Float = 2e-2, seed: UInt64 = 1,
               sourceLocation: SourceLocation = #_sourceLocation, _ f: ([Variable]) -> Variable) {
        var rand = Rand(state: seed &* 7919)
        let variables = inputs.map { Variable($0, requiresGrad: true) }
        let y = f(variables)
        let r = rand.tensor(y.shape)
        (y * Variable(r)).sum().backward()
        func loss(_ xs: [Tensor]) -> Double {
            let out = f(xs.map { Variable($0) })
            return zip(out.value.data, r.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        for (i, v) in variables.enumerated() {
            guard let grad = v.grad else { Issue.record("\(name): input \(i) got no gradient", sourceLocation: sourceLocation); continue }
            var worst: (Float, Int, Float, Float) = (0, 0, 0, 0)
            let stride = max(1, inputs[i].count / 48)
            for j in Swift.stride(from: 0, to: inputs[i].count, by: stride) {
                var plus = inputs, minus = inputs
                plus[i].data[j] += h
                minus[i].data[j] -= h
                let numeric = Float((loss(plus) - loss(minus)) / Double(2 * h))
                let err = abs(numeric - grad.data[j]) / (1 + abs(numeric))
                if err > worst.0 { worst = (err, j, grad.data[j], numeric) }
            }
            #expect(worst.0 <= tolerance, "\(name) input \(i)[\(worst.1)]: analytic \(worst.2) vs numeric \(worst.3)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func arithmeticAndReductions() {
        var r = Rand(state: 3)
        let a = r.tensor([3, 4]), b = r.tensor([3, 4]), bias = r.tensor([4])
        check("add", [a, b]) { $0[0] + $0[1] }
        check("sub", [a, b]) { $0[0] - $0[1] }
        check("mul", [a, b]) { $0[0] * $0[1] }
        check("div", [a, r.tensor([3, 4], scale: 0.5, offset: 2)]) { $0[0] / $0[1] }
        check("scale", [a]) { $0[0] * 1.7 }
        check("addingRow", [a, bias]) { $0[0].addingRow($0[1]) }
        check("sum", [a]) { $0[0].sum() }
        check("mean", [a]) { $0[0].mean() }
        check("abs", [a]) { $0[0].abs() }
        check("maximum", [a, b]) { Variable.maximum($0[0], $0[1]) }
        check("minimum", [a, b]) { Variable.minimum($0[0], $0[1]) }
        check("clamp", [a]) { $0[0].clamped(min: 0.1) }
        check("a·a (reuse accumulates)", [a]) { $0[0] * $0[0] + $0[0] }
    }

    @Test func productsAndActivations() {
        var r = Rand(state: 5)
        let a = r.tensor([3, 5]), b = r.tensor([5, 4]), bt = r.tensor([4, 5])
        check("matmul", [a, b]) { Variable.matmul($0[0], $0[1]) }
        check("matmul Bᵀ", [a, bt]) { Variable.matmul($0[0], $0[1], transposingB: true) }
        check("linear", [a, bt, r.tensor([4])]) { $0[0].linear($0[1], $0[2]) }
        check("linear no bias", [a, bt]) { $0[0].linear($0[1], nil) }
        let x = r.tensor([4, 6], scale: 2)
        check("relu", [x]) { $0[0].relu() }
        check("relu6", [r.tensor([4, 6], scale: 8, offset: 3)]) { $0[0].relu6() }
        check("sigmoid", [x]) { $0[0].sigmoid() }
        check("silu", [x]) { $0[0].silu() }
        check("gelu", [x]) { $0[0].gelu() }
        check("tanh", [x]) { $0[0].tanh() }
        check("log", [r.tensor([4, 6], scale: 0.5, offset: 1.5)]) { $0[0].log() }
    }

    @Test func normalizationsAndShapes() {
        var r = Rand(state: 7)
        let x = r.tensor([3, 8], scale: 2)
        check("layerNorm", [x, r.tensor([8], offset: 1), r.tensor([8])]) { $0[0].layerNorm($0[1], $0[2], eps: 1e-5) }
        check("softmax", [x]) { $0[0].softmax() }
        check("logSoftmax", [x]) { $0[0].logSoftmax() }
        check("logSumExp", [x]) { $0[0].logSumExp() }
        // Distinct values 0.1 apart: no maximum within h of another.
        check("max over last axis", [Tensor(shape: [3, 8], data: (0..<24).map { Float(($0 * 7) % 24) * 0.1 })]) { $0[0].maxLastAxis() }
        check("l2-normalized rows", [x]) { $0[0].l2NormalizedRows() }
        check("reshape", [x]) { $0[0].reshaped([6, 4]) }
        check("transpose", [x]) { $0[0].transposed() }
        check("concat rows", [x, r.tensor([2, 8])]) { Variable.concat(rows: [$0[0], $0[1]]) }
        check("concat columns", [x, r.tensor([3, 2])]) { Variable.concat(columns: [$0[0], $0[1]]) }
        check("slice rows", [x]) { $0[0].slice(rows: 1..<3) }
        check("slice columns", [x]) { $0[0].slice(columns: 2..<5) }
        check("gather (embedding, repeats)", [x]) { $0[0].gather(rows: [2, 0, 2]) }
    }

    @Test func attention() {
        var r = Rand(state: 11)
        let q = r.tensor([3, 8]), k = r.tensor([5, 8]), v = r.tensor([5, 8])
        check("attention", [q, k, v]) { Variable.attention(q: $0[0], k: $0[1], v: $0[2], heads: 2) }
        check("attention masked", [q, k, v]) {
            Variable.attention(q: $0[0], k: $0[1], v: $0[2], heads: 4, keyPaddingMask: [false, true, false, false, true])
        }
        // Same values as the inference kernel.
        let inference = AttentionKernel.attend(q: q, k: k, v: v, heads: 2, keyPaddingMask: nil)
        let trained = Variable.attention(q: Variable(q), k: Variable(k), v: Variable(v), heads: 2).value
        #expect(zip(inference.data, trained.data).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func convolutionalOps() {
        var r = Rand(state: 13)
        let x = r.tensor([4, 6, 5])
        check("conv 3×3", [x, r.tensor([3, 4, 3, 3], scale: 0.5), r.tensor([3])]) {
            $0[0].conv2d($0[1], $0[2], stride: 1, padding: .symmetric(1))
        }
        check("conv stride 2, asymmetric padding (TF 'same')", [x, r.tensor([2, 4, 3, 3], scale: 0.5)]) {
            $0[0].conv2d($0[1], nil, stride: 2, padding: .tfSame)
        }
        check("depthwise conv 5×5", [x, r.tensor([4, 1, 5, 5], scale: 0.3)]) {
            $0[0].conv2d($0[1], nil, stride: 1, padding: .symmetric(2), groups: 4)
        }
        check("grouped 1×1", [x, r.tensor([6, 2, 1, 1])]) { $0[0].conv2d($0[1], nil, groups: 2) }
        check("frozen BN", [x]) { $0[0].channelAffine(scale: [0.5, 2, -1, 1.5], shift: [0.1, 0, 0.3, -0.2]) }
        check("max pool", [x]) { $0[0].maxPool2d(kernel: 3, stride: 2, padding: 1) }
        check("spatial mean", [x]) { $0[0].spatialMean() }
        check("channel scaling (SE)", [x, r.tensor([4])]) { $0[0].scalingChannels($0[1]) }
        // A residual bottleneck-like block: conv → BN → relu → conv, plus the input.
        check("residual block", [x, r.tensor([4, 4, 3, 3], scale: 0.3), r.tensor([4, 4, 1, 1], scale: 0.5)]) {
            let y = $0[0].conv2d($0[1], nil, padding: .symmetric(1)).channelAffine(scale: [1, 0.5, 2, 1], shift: [0, 0.1, 0, 0]).relu()
            return ($0[0] + y.conv2d($0[2], nil)).relu6()
        }
        // The convolution agrees with the inference kernel.
        let w = r.tensor([3, 4, 3, 3])
        let inference = Conv2D(weight: w, bias: nil, stride: 1, padding: .symmetric(1))(x)
        let trained = Variable(x).conv2d(Variable(w), nil, padding: .symmetric(1)).value
        #expect(inference.shape == trained.shape && zip(inference.data, trained.data).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test func boxes() {
        var r = Rand(state: 17)
        // cx, cy in (0.3, 0.7), w, h in (0.2, 0.5): overlapping, non-degenerate boxes.
        func boxes(_ n: Int) -> Tensor {
            var data: [Float] = []
            for _ in 0..<n {
                let cx: Float = r.next() * 0.2 + 0.5, cy: Float = r.next() * 0.2 + 0.5
                let w: Float = r.next() * 0.15 + 0.35, h: Float = r.next() * 0.15 + 0.35
                data += [cx, cy, w, h]
            }
            return Tensor(shape: [n, 4], data: data)
        }
        let a = boxes(5), b = boxes(5)
        check("xyxy", [a]) { BoxOps.xyxy($0[0]) }
        check("GIoU", [a, b], h: 1e-3) { BoxOps.pairwiseGIoU(BoxOps.xyxy($0[0]), BoxOps.xyxy($0[1])) }
        // Disjoint boxes: the hull term carries the gradient.
        let far = Tensor(shape: [1, 4], data: [0.2, 0.2, 0.1, 0.1]), other = Tensor(shape: [1, 4], data: [0.7, 0.6, 0.2, 0.1])
        check("GIoU disjoint", [far, other], h: 1e-3) { BoxOps.pairwiseGIoU(BoxOps.xyxy($0[0]), BoxOps.xyxy($0[1])) }
        let matrix = BoxOps.giouMatrix([BoxOps.xyxy(Array(a.data[0..<4]))], [BoxOps.xyxy(Array(b.data[0..<4]))])
        let diagonal = BoxOps.pairwiseGIoU(BoxOps.xyxy(Variable(a)), BoxOps.xyxy(Variable(b))).value.data[0]
        #expect(abs(matrix[0][0] - diagonal) < 1e-6)
    }

    @Test func hungarianMatchesBruteForce() {
        var r = Rand(state: 19)
        func permutations(_ n: Int, _ k: Int) -> [[Int]] {
            if k == 0 { return [[]] }
            return permutations(n, k - 1).flatMap { p in (0..<n).filter { !p.contains($0) }.map { p + [$0] } }
        }
        for (rows, columns) in [(3, 3), (2, 5), (4, 6), (5, 2), (1, 4)] {
            let cost = (0..<rows).map { _ in (0..<columns).map { _ in Double(r.next()) } }
            let pairs = HungarianMatcher.solve(cost)
            let total = pairs.reduce(0) { $0 + cost[$1.row][$1.column] }
            #expect(pairs.count == min(rows, columns))
            #expect(Set(pairs.map(\.row)).count == pairs.count && Set(pairs.map(\.column)).count == pairs.count)
            let best: Double
            if rows <= columns {
                best = permutations(columns, rows).map { p in p.enumerated().reduce(0) { $0 + cost[$1.offset][$1.element] } }.min()!
            } else {
                best = permutations(rows, columns).map { p in p.enumerated().reduce(0) { $0 + cost[$1.element][$1.offset] } }.min()!
            }
            #expect(abs(total - best) < 1e-9, "\(rows)×\(columns): \(total) vs best \(best)")
        }
    }

    /// Word-region alignment: differentiable, and lower when each caption's phrases match its own image's regions.
    @Test func wordRegionAlignment() {
        var r = Rand(state: 23)
        let regions = (0..<3).map { _ in r.tensor([4, 6]) }
        let tokens = (0..<3).map { _ in r.tensor([5, 6]) }
        check("word-region alignment", regions + tokens) { v in
            WordRegionAlignment().loss((0..<3).map { i in
                WordRegionAlignment.Item(regions: v[i].l2NormalizedRows(), tokens: v[3 + i].l2NormalizedRows(), phraseTokens: [[1, 2], [3]])
            })!
        }
        // Aligned: caption i's phrase tokens equal some region of image i.
        func loss(aligned: Bool) -> Float {
            let items = (0..<3).map { i -> WordRegionAlignment.Item in
                var tok = tokens[i]
                let source = regions[aligned ? i : (i + 1) % 3]
                for j in 0..<6 { tok.data[1 * 6 + j] = source.data[2 * 6 + j] }
                return WordRegionAlignment.Item(regions: Variable(regions[i]).l2NormalizedRows(), tokens: Variable(tok).l2NormalizedRows(),
                                                phraseTokens: [[1]])
            }
            return WordRegionAlignment().loss(items)!.value.data[0]
        }
        #expect(loss(aligned: true) < loss(aligned: false))
    }

    @Test func encoderAlignment() {
        // A 3×4 grid of image tokens, 5 caption tokens; box 0 (tokens 1, 2) covers the right half of the top two
        // rows, box 1 (token 3) is smaller than a cell and claims the cell holding its centre.
        var rand = Rand(state: 11)
        let image = rand.tensor([12, 6]), tokens = rand.tensor([5, 6])
        var map = Tensor(zeros: [2, 256])
        map.data[1] = 1; map.data[2] = 1; map.data[256 + 3] = 1
        let target = MDETRCriterion.Target(boxes: [[0.75, 0.33, 0.5, 0.66], [0.1, 0.8, 0.02, 0.02]], positiveMap: map)
        func outputs(_ image: Variable, _ tokens: Variable) -> TrainableMDETR.Outputs {
            var o = TrainableMDETR.Outputs(layers: [], projectedTokens: tokens.l2NormalizedRows())
            o.projectedImageTokens = image.l2NormalizedRows()
            o.grid = (3, 4)
            return o
        }
        check("encoder alignment", [image, tokens]) { v in MDETRCriterion().encoderAlignment(outputs(v[0], v[1]), target)! }
        // Lower when the positive tokens match the image tokens inside their boxes.
        var aligned = tokens
        for j in 0..<6 { aligned.data[1 * 6 + j] = image.data[2 * 6 + j]; aligned.data[3 * 6 + j] = image.data[8 * 6 + j] }
        let criterion = MDETRCriterion()
        let before = criterion.encoderAlignment(outputs(Variable(image), Variable(tokens)), target)!.value.data[0]
        let after = criterion.encoderAlignment(outputs(Variable(image), Variable(aligned)), target)!.value.data[0]
        #expect(after < before)
        #expect(criterion.encoderAlignment(outputs(Variable(image), Variable(tokens)), .init(boxes: [], positiveMap: Tensor(zeros: [0, 256]))) == nil)
    }

    /// The pyramid and dense-head ops (DetCLIPv2): group norm, nearest upsampling (doubling and an odd ratio),
    /// deformable convolution (input, offsets, weight, bias; samples inside, straddling and beyond the border) and
    /// the learned scale.
    @Test func pyramidOps() {
        var r = Rand(state: 17)
        let x = r.tensor([4, 5, 6], scale: 2, offset: 0.3)
        check("groupNorm", [x, r.tensor([4], offset: 1), r.tensor([4])]) { $0[0].groupNorm($0[1], $0[2], groups: 2, eps: 1e-5) }
        check("upsample ×2", [x]) { $0[0].upsampledNearest(height: 10, width: 12) }
        check("upsample 5→7", [x]) { $0[0].upsampledNearest(height: 7, width: 13) }
        // Offsets up to ±2.5 pixels: some taps leave the 5×6 image, some straddle its edge. Kept off whole numbers
        // (where bilinear sampling has a kink that finite differences cannot see through).
        var offsets = r.tensor([18, 5, 6], scale: 2.5)
        for i in offsets.data.indices where abs(offsets.data[i] - offsets.data[i].rounded()) < 0.01 { offsets.data[i] += 0.05 }
        check("deformable conv", [x, offsets, r.tensor([3, 4, 3, 3], scale: 0.5), r.tensor([3])], h: 1e-3, tolerance: 3e-2) {
            $0[0].deformableConv2d(offsets: $0[1], weight: $0[2], bias: $0[3], padding: 1)
        }
        check("deformable conv, stride 2", [x, r.tensor([18, 3, 3], scale: 0.4, offset: 0.2), r.tensor([2, 4, 3, 3])]) {
            $0[0].deformableConv2d(offsets: $0[1], weight: $0[2], bias: nil, stride: 2, padding: 1)
        }
        check("scaled", [x, r.tensor([1], offset: 1), r.tensor([1])]) { $0[0].scaled(by: $0[1], shift: $0[2]) }
        // Zero offsets are an ordinary convolution.
        let w = r.tensor([3, 4, 3, 3]), b = r.tensor([3])
        let plain = Variable(x).conv2d(Variable(w), Variable(b), padding: .symmetric(1)).value
        let deformed = x.deformableConvolved(offsets: Tensor(zeros: [18, 5, 6]), weight: w, bias: b, padding: 1)
        #expect(zip(plain.data, deformed.data).allSatisfy { abs($0 - $1) < 1e-5 })
        // A NaN or infinite offset reads zero instead of trapping or spreading.
        var hostile = Tensor(zeros: [18, 5, 6])
        hostile.data[0] = .nan; hostile.data[1] = .infinity; hostile.data[40] = -.greatestFiniteMagnitude
        let safe = x.deformableConvolved(offsets: hostile, weight: w, bias: b, padding: 1)
        #expect(safe.data.allSatisfy { $0.isFinite })
    }
}
