/// Several weight files seen as one state dict: each part's keys get its prefix (`backbone.0.body.` for an
/// ImageNet backbone file, `transformer.text_encoder.` for a HuggingFace text encoder). Parts must not overlap.
public struct MergedWeights: WeightSource {
    public let parts: [(prefix: String, source: any WeightSource)]
    private let index: [String: (Int, String)]   // full key → (part, key in that part)
    public let keys: [String]

    public init(_ parts: [(prefix: String, source: any WeightSource)]) throws {
        self.parts = parts
        var index: [String: (Int, String)] = [:]
        var keys: [String] = []
        for (i, part) in parts.enumerated() {
            for key in part.source.keys {
                let full = part.prefix + key
                guard index[full] == nil else { throw WeightsError.missingConfig("weights overlap at \(full)") }
                index[full] = (i, key)
                keys.append(full)
            }
        }
        self.index = index
        self.keys = keys
    }

    public func shape(of key: String) -> [Int]? {
        index[key].flatMap { parts[$0.0].source.shape(of: $0.1) }
    }

    public func tensor(_ key: String) throws -> Tensor {
        guard let (part, inner) = index[key] else { throw WeightsError.missingConfig("no tensor \(key)") }
        return try parts[part].source.tensor(inner)
    }
}
