import ArgumentParser
import Detector
import Pipeline

/// How a vocabulary is asked, from the command line over `[query]`.
struct StrategyOptions: ParsableArguments {
    @Option(name: .long, help: "How a vocabulary is asked: exact (one prompt per category), packed (many categories per caption) or shortlist (packed passes rank, the best are asked exactly).")
    var strategy: String?

    @Option(name: .customLong("shortlist-k"), help: "shortlist: categories asked exactly per image (default: [query] shortlist_k).")
    var shortlistK: Int?

    @Option(name: .customLong("shortlist-min-score"), help: "shortlist: also ask every category whose packed score reaches this.")
    var shortlistMinScore: Float?

    @Option(name: .customLong("packed-also-above"), help: "packed: a box also names every other category of its caption scoring above this.")
    var packedAlsoAbove: Float?

    func validate() throws {
        if let strategy, !QueryStrategy.names.contains(strategy) {
            throw ValidationError("--strategy must be one of \(QueryStrategy.names.joined(separator: ", ")), not '\(strategy)'")
        }
        if let shortlistK, shortlistK < 0 { throw ValidationError("--shortlist-k must be ≥ 0") }
        for (flag, value) in [("--shortlist-min-score", shortlistMinScore), ("--packed-also-above", packedAlsoAbove)]
        where value.map({ !(0...1).contains($0) }) == true {
            throw ValidationError("\(flag) must be a score between 0 and 1")
        }
    }

    /// The strategy these flags name, the rest from `query`; `fallback` when neither flag nor caller names one.
    func strategy(_ query: QuerySettings, fallback: String) -> QueryStrategy {
        QueryStrategy.named(strategy ?? fallback, shortlistK: shortlistK ?? query.shortlistK,
                            shortlistMinScore: shortlistMinScore ?? query.shortlistMinScore.map(Float.init),
                            packedAlsoAbove: packedAlsoAbove ?? query.packedAlsoAbove.map(Float.init)) ?? .exact
    }
}
