/// FPN (Lin et al.) as ATSS uses it, keys as mmdetection's `FPN`: a 1×1 lateral conv per backbone level
/// (`lateral_convs.{i}.conv`), top-down nearest upsampling added into the finer level, a 3×3 output conv per level
/// (`fpn_convs.{i}.conv`), and for P6/P7 3×3 stride-2 convs on P5's output and on ReLU(P6) (`fpn_convs.3`, `.4`).
public struct FeaturePyramid<Value: NetworkValue> {
    let laterals: [Value.Convolution]
    let outputs: [Value.Convolution]
    let extras: [Value.Convolution]

    public init(weights w: Parameters<Value>, inChannels: [Int], channels: Int, levels: Int) {
        precondition(inChannels.count == 3 && (3...5).contains(levels), "FPN: C3–C5 in, P3–P5 … P7 out")
        laterals = inChannels.enumerated().map { i, c in
            w.scope("lateral_convs.\(i)").conv("conv", in: c, out: channels, kernel: 1, padding: .symmetric(0), bias: true)
        }
        outputs = (0..<3).map { i in
            w.scope("fpn_convs.\(i)").conv("conv", in: channels, out: channels, kernel: 3, padding: .symmetric(1), bias: true)
        }
        extras = (3..<levels).map { i in
            w.scope("fpn_convs.\(i)").conv("conv", in: channels, out: channels, kernel: 3, stride: 2, padding: .symmetric(1), bias: true)
        }
    }

    /// C3, C4, C5 (C_i, H_i, W_i) → P3 … P_levels (channels, H_l, W_l).
    public func callAsFunction(_ features: [Value]) -> [Value] {
        var merged = zip(features, laterals).map { $0.convolved($1, activation: nil) }
        for i in stride(from: 2, to: 0, by: -1) {
            let finer = merged[i - 1].shape
            merged[i - 1] = merged[i - 1] + merged[i].upsampledNearest(height: finer[1], width: finer[2])
        }
        var out = zip(merged, outputs).map { $0.convolved($1, activation: nil) }
        for (k, extra) in extras.enumerated() {
            // P6 from P5's output; P7 from ReLU(P6) (RetinaNet's rule).
            out.append((k == 0 ? out[2] : out[out.count - 1].activated(.relu)).convolved(extra, activation: nil))
        }
        return out
    }
}

extension FeaturePyramid: Sendable where Value == Tensor {}
