import ArgumentParser
import Detector
import Pipeline
import Stages

/// How a vocabulary is asked, from the command line over `[query]`.
struct StrategyOptions: ParsableArguments {
    @Option(name: .long, help: "How a vocabulary is asked: exact (one prompt per category), packed (many categories per caption), shortlist (packed passes rank, the best are asked exactly) or auto (shortlist for a model trained with packed records, else exact).")
    var strategy: String?

    @Option(name: .customLong("shortlist-k"), help: "shortlist: categories asked exactly per image (default: [query] shortlist_k).")
    var shortlistK: Int?

    @Option(name: .customLong("shortlist-min-score"), help: "shortlist: also ask every category whose packed score reaches this.")
    var shortlistMinScore: Float?

    @Option(name: .customLong("packed-also-above"), help: "packed: a box also names every other category of its caption scoring above this.")
    var packedAlsoAbove: Float?

    func validate() throws {
        if let strategy, !QuerySettings.strategies.contains(strategy) {
            throw ValidationError("--strategy must be one of \(QuerySettings.strategies.joined(separator: ", ")), not '\(strategy)'")
        }
        if let shortlistK, shortlistK < (shortlistMinScore == nil ? 1 : 0) {
            throw ValidationError("--shortlist-k must be ≥ 1 (≥ 0 with --shortlist-min-score)")
        }
        for (flag, value) in [("--shortlist-min-score", shortlistMinScore), ("--packed-also-above", packedAlsoAbove)]
        where value.map({ !(0...1).contains($0) }) == true {
            throw ValidationError("\(flag) must be a score between 0 and 1")
        }
    }

    /// The strategy these flags name for `detector`, the rest from `query`; `fallback` when no flag names one.
    func strategy(_ query: QuerySettings, fallback: String, detector: any ImageDetector) -> QueryStrategy {
        var settings = query
        if let shortlistK { settings.shortlistK = shortlistK }
        if let shortlistMinScore { settings.shortlistMinScore = Double(shortlistMinScore) }
        if let packedAlsoAbove { settings.packedAlsoAbove = Double(packedAlsoAbove) }
        return VocabularyResolver.strategy(strategy ?? fallback, settings, answersPackedPrompts: detector.answersPackedPrompts)
    }
}
