import Foundation

/// Where labels come from and how they are split.
public struct LabelSettings: Sendable, Equatable {
    /// The labels inbox; nil: `<state>/labels`.
    public var inbox: String?
    /// Vocabulary a file's categories are looked up in when it names none.
    public var vocabulary = "default-model"
    /// Share of labelled images kept out of training to judge candidates (decided per image, by its content hash, so
    /// an image never changes side).
    public var heldoutFraction = 0.2

    public init() {}

    public func split(sha256: String) -> String {
        let bucket = Double(UInt32(sha256.prefix(8), radix: 16) ?? 0) / Double(UInt32.max)
        return bucket < heldoutFraction ? "heldout" : "train"
    }
}
