/// How a vocabulary is asked of an image.
public enum QueryStrategy: Sendable, Equatable {
    /// One category per prompt (MDETR's LVIS protocol): the reference, one transformer pass per category.
    case exact
    /// As many categories as fit one caption ("cat. dog. sofa."), each scored by the probability mass a query puts on
    /// its tokens; a query yields its best category, and every other one of the pass scoring above `alsoAbove`
    /// (nil: the best only).
    case packed(alsoAbove: Float?)
    /// Packed passes rank the categories of the image (a category's rank score is its best query's mass); the best
    /// `k`, and any scoring at least `minScore`, are then asked exactly. The detections are the exact ones.
    case shortlist(k: Int, minScore: Float?)

    public var name: String {
        switch self {
        case .exact: return "exact"
        case .packed: return "packed"
        case .shortlist: return "shortlist"
        }
    }

    /// Builds a strategy from its configured name and settings; nil for an unknown name.
    public static func named(_ name: String, shortlistK: Int, shortlistMinScore: Float?, packedAlsoAbove: Float?) -> QueryStrategy? {
        switch name {
        case "exact": return .exact
        case "packed": return .packed(alsoAbove: packedAlsoAbove)
        case "shortlist": return .shortlist(k: shortlistK, minScore: shortlistMinScore)
        default: return nil
        }
    }

    /// The strategy and its settings as recorded in provenance.
    public var description: [String: String] {
        switch self {
        case .exact:
            return ["strategy": "exact"]
        case let .packed(alsoAbove):
            return ["strategy": "packed", "packed_also_above": alsoAbove.map { "\($0)" } ?? "none"]
        case let .shortlist(k, minScore):
            return ["strategy": "shortlist", "shortlist_k": "\(k)", "shortlist_min_score": minScore.map { "\($0)" } ?? "none"]
        }
    }

    /// Whether the strategy runs packed passes, and whether it asks categories one by one.
    var usesPacks: Bool { if case .exact = self { return false } else { return true } }
    var usesExactPrompts: Bool { if case .packed = self { return false } else { return true } }
}
