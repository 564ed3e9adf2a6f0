/// The ATSS head (Zhang et al.) with DetCLIPv2's classification branch turned into region embeddings, shared across
/// levels. Keys as mmdetection's `ATSSHead`: towers `cls_convs.{i}` and `reg_convs.{i}` (3×3 conv without bias,
/// `.gn` GroupNorm, ReLU), `atss_reg` (4 distances), `atss_centerness`, `scales.{l}.scale`. DetCLIPv2's additions:
/// `offset_conv` predicts a deformable convolution's offsets from the regression tower, and that convolution
/// (`region_conv`) turns the classification tower into each location's region embedding — so the alignment loss
/// also trains the regression branch.
public struct RegionHead<Value: NetworkValue> {
    struct TowerLayer {
        var conv: Value.Convolution
        var gnWeight: Value, gnBias: Value
    }

    let clsTower: [TowerLayer], regTower: [TowerLayer]
    let regression: Value.Convolution, centerness: Value.Convolution, offsets: Value.Convolution
    let regionWeight: Value, regionBias: Value
    let scales: [Value]
    let groups: Int

    /// One level's predictions.
    public struct Level {
        /// Region embeddings (H·W, d_align), not normalized, locations in row-major order.
        public var regions: Value
        /// Distances to the box's left, top, right and bottom in units of the level's stride (4, H, W), ≥ 0.
        public var distances: Value
        /// Centerness logits (1, H, W).
        public var centerness: Value
    }

    public init(weights w: Parameters<Value>, config c: DetCLIPConfig) {
        groups = c.groupNormGroups
        func tower(_ name: String) -> [TowerLayer] {
            (0..<c.stackedConvs).map { i in
                let s = w.scope("\(name).\(i)")
                return TowerLayer(conv: s.conv("conv", in: c.channels, out: c.channels, kernel: 3, padding: .symmetric(1)),
                                  gnWeight: s.scope("gn")("weight", shape: [c.channels]), gnBias: s.scope("gn")("bias", shape: [c.channels]))
            }
        }
        clsTower = tower("cls_convs")
        regTower = tower("reg_convs")
        regression = w.conv("atss_reg", in: c.channels, out: 4, kernel: 3, padding: .symmetric(1), bias: true)
        centerness = w.conv("atss_centerness", in: c.channels, out: 1, kernel: 3, padding: .symmetric(1), bias: true)
        offsets = w.conv("offset_conv", in: c.channels, out: 18, kernel: 3, padding: .symmetric(1), bias: true)
        regionWeight = w.scope("region_conv")("weight", shape: [c.alignDim, c.channels, 3, 3])
        regionBias = w.scope("region_conv")("bias", shape: [c.alignDim])
        scales = (0..<c.levels).map { w.scope("scales.\($0)")("scale", shape: [1]) }
    }

    /// P_l (channels, H, W) → the level's regions, distances and centerness.
    public func callAsFunction(_ x: Value, level: Int) -> Level {
        func run(_ tower: [TowerLayer]) -> Value {
            tower.reduce(x) { y, layer in
                y.convolved(layer.conv, activation: nil).groupNorm(layer.gnWeight, layer.gnBias, groups: groups, eps: 1e-5, activation: .relu)
            }
        }
        let cls = run(clsTower), reg = run(regTower)
        let (h, w) = (x.shape[1], x.shape[2])
        let region = cls.deformableConvolved(offsets: reg.convolved(offsets, activation: nil), weight: regionWeight, bias: regionBias,
                                             stride: 1, padding: 1)
        return Level(regions: region.reshaped([regionBias.shape[0], h * w]).transposed(),
                     distances: reg.convolved(regression, activation: nil).scaled(by: scales[level], shift: nil).activated(.relu),
                     centerness: reg.convolved(centerness, activation: nil))
    }
}

extension RegionHead: Sendable where Value == Tensor {}
extension RegionHead.TowerLayer: Sendable where Value == Tensor {}
extension RegionHead.Level: Sendable where Value == Tensor {}
