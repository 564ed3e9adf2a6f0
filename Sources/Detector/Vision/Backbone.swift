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
