/// A CNN that turns a normalized image (3, H, W) into its stride-32 feature map (C, ⌈H/32⌉, ⌈W/32⌉).
public protocol Backbone: Sendable {
    var outChannels: Int { get }
    func callAsFunction(_ image: Tensor) -> Tensor
}
