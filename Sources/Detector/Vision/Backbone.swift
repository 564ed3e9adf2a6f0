/// A CNN that turns a normalized image (3, H, W) into its stride-32 feature map (C, ⌈H/32⌉, ⌈W/32⌉) — MDETR's
/// input — or into the maps at strides 8, 16 and 32 (C3, C4, C5) a feature pyramid starts from.
public protocol Backbone: Sendable {
    var outChannels: Int { get }
    func callAsFunction(_ image: Tensor) -> Tensor
    /// Channels of C3, C4 and C5.
    var pyramidChannels: [Int] { get }
    /// The last maps at strides 8, 16 and 32 (the last is what `callAsFunction` returns).
    func pyramid(_ image: Tensor) -> [Tensor]
}

/// The inference backbone a model names (`resnet18|34|50|101`, `timm_tf_efficientnet_b3_ns` / `_b5_ns`,
/// `efficientnet_lite0`) under `body`, and the keys there it leaves unread (Lite0's classification head).
public func makeBackbone(_ name: String, weights body: WeightScope) throws -> (backbone: any Backbone, ignored: [String]) {
    switch name {
    case let name where name.hasPrefix("resnet"):
        return (try ResNet<Tensor>(weights: Parameters(body)), [])
    case let name where name.hasPrefix("timm_tf_efficientnet"):
        return (try EfficientNet(weights: body), [])
    case "efficientnet_lite0":
        return (EfficientNetLite(weights: body), EfficientNetLite.headPrefixes.map { body.key($0) })
    default:
        throw WeightsError.missingConfig("unknown backbone '\(name)'")
    }
}
