/// Everything that shapes a DetCLIPv2 network (Yao et al., arXiv 2304.04514, on ATSS): which backbone and text
/// encoder, the pyramid's width and levels, the head's depth, and the width regions and concepts meet in.
public struct DetCLIPConfig: Sendable, Equatable, Codable {
    /// A Detector backbone name (`efficientnet_lite0`, `resnet50`, …): C3–C5 feed the pyramid.
    public var backbone: String
    /// The concept encoder's transformer (`all-MiniLM-L6-v2` by default); its hidden states are mean-pooled.
    public var textEncoderType: String
    public var text: TextEncoderConfig
    /// Channels of C3, C4, C5 as the backbone gives them.
    public var backboneChannels: [Int]
    /// Pyramid width (ATSS: 256; narrower keeps the dense head affordable on a CPU).
    public var channels: Int = 128
    /// P3–P5 (3) or P3–P7 (5, as ATSS).
    public var levels: Int = 5
    /// 3×3 conv + GroupNorm + ReLU layers in each head tower (ATSS: 4).
    public var stackedConvs: Int = 2
    public var groupNormGroups: Int = 32
    /// d_align: the width of region and concept embeddings.
    public var alignDim: Int = 128

    public init(backbone: String, textEncoderType: String, text: TextEncoderConfig, backboneChannels: [Int]) {
        self.backbone = backbone
        self.textEncoderType = textEncoderType
        self.text = text
        self.backboneChannels = backboneChannels
    }

    /// Refuses a shape the network cannot be built with (a model directory's manifest is a file like any other).
    public func validate() throws {
        func bad(_ what: String) -> WeightsError { WeightsError.missingConfig("DetCLIPv2 config: \(what)") }
        guard backboneChannels.count == 3, backboneChannels.allSatisfy({ $0 > 0 }) else { throw bad("backboneChannels must be C3, C4, C5 widths") }
        guard (3...5).contains(levels) else { throw bad("levels \(levels) is not 3 (P3–P5) to 5 (P3–P7)") }
        guard (1...4096).contains(channels), (1...4096).contains(alignDim), (0...16).contains(stackedConvs) else {
            throw bad("channels \(channels), alignDim \(alignDim) or stackedConvs \(stackedConvs) out of range")
        }
        guard groupNormGroups > 0, channels % groupNormGroups == 0 else { throw bad("channels \(channels) do not split into \(groupNormGroups) groups") }
        guard text.hidden > 0 else { throw bad("text encoder width \(text.hidden)") }
    }

    /// Each level's stride: 8, 16, 32 (, 64, 128).
    public var strides: [Int] { (0..<levels).map { 8 << $0 } }
}
