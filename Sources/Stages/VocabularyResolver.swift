import Detector
import Foundation
import Pipeline
import Store

/// Which categories an inbox's images are asked about, and how: the newest version of the inbox's vocabulary, turned
/// into one prompt per category with the configured template (`auto`: the one the running model was trained with),
/// asked with the inbox's strategy (else `[query]`'s).
/// Reloaded at most once a minute, so a new version imported while the daemon runs is picked up between jobs.
public final class VocabularyResolver: @unchecked Sendable {
    private let database: Database
    private let vocabularyByInbox: [String: String]
    /// The configured template; nil: the model's own (`auto`).
    public let configuredTemplate: PromptTemplate?
    private let query: QuerySettings
    private let strategyByInbox: [String: String]
    private let lock = NSLock()
    private var cache: [String: (loaded: Date, vocabulary: StoredVocabulary, prompts: [CategoryPrompt])] = [:]

    /// `query.strategy` and the inboxes' strategies must be valid names (the config loader checks them).
    public init(database: Database, inboxes: [InboxConfig], query: QuerySettings) {
        self.database = database
        self.vocabularyByInbox = Dictionary(inboxes.compactMap { i in i.vocabulary.map { (i.name, $0) } },
                                            uniquingKeysWith: { a, _ in a })
        configuredTemplate = query.template == "auto" ? nil : Self.template(query.template)
        self.query = query
        strategyByInbox = Dictionary(inboxes.compactMap { i in i.strategy.map { (i.name, $0) } }, uniquingKeysWith: { a, _ in a })
    }

    /// One prompt per category by `template`, identified by its row id (else its id in the source file, else its
    /// position from 1).
    public static func prompts(_ categories: [VocabularyCategory], template: PromptTemplate) -> [CategoryPrompt] {
        categories.enumerated().map { i, c in
            CategoryPrompt(categoryID: c.id ?? c.externalID ?? i + 1, prompt: template.prompt(name: c.name, definition: c.definition))
        }
    }

    /// How inbox `inbox`'s vocabulary (or the model's own) is asked of `detector`.
    public func strategy(forInbox inbox: String, detector: any ImageDetector) -> QueryStrategy {
        Self.strategy(strategyByInbox[inbox] ?? query.strategy, query, answersPackedPrompts: detector.answersPackedPrompts)
    }

    /// The strategy `name` (`QuerySettings.strategies`) with `query`'s settings; `auto` is `shortlist` for a model
    /// that learned packed captions and `exact` for any other.
    public static func strategy(_ name: String, _ query: QuerySettings, answersPackedPrompts: Bool) -> QueryStrategy {
        let resolved = name == "auto" ? (answersPackedPrompts ? "shortlist" : "exact") : name
        return QueryStrategy.named(resolved, shortlistK: query.shortlistK, shortlistMinScore: query.shortlistMinScore.map(Float.init),
                                   packedAlsoAbove: query.packedAlsoAbove.map(Float.init)) ?? .exact
    }

    public static func template(_ name: String) -> PromptTemplate {
        switch name {
        case "clean_name": return .cleanName
        case "name_and_definition": return .nameAndDefinition
        default: return .custom(name)
        }
    }

    /// The template `detector`'s questions are made with.
    public func template(for detector: any ImageDetector) -> PromptTemplate { configuredTemplate ?? detector.preferredTemplate }

    public static func name(of template: PromptTemplate) -> String {
        switch template {
        case .cleanName: return "clean_name"
        case .nameAndDefinition: return "name_and_definition"
        case let .custom(t): return t
        }
    }

    /// nil when the inbox has no vocabulary (its images get the free-text prompts, or the model's own vocabulary).
    public func prompts(forInbox inbox: String, template: PromptTemplate) throws -> (StoredVocabulary, [CategoryPrompt])? {
        guard let name = vocabularyByInbox[inbox] else { return nil }
        return try prompts(vocabulary: name, for: inbox, template: template)
    }

    /// The newest version of vocabulary `name` as prompts (`inbox` only names who asked, for the error).
    public func prompts(vocabulary name: String, for inbox: String, template: PromptTemplate) throws -> (StoredVocabulary, [CategoryPrompt]) {
        let key = name + "\u{0}" + Self.name(of: template)
        lock.lock()
        if let hit = cache[key], Date().timeIntervalSince(hit.loaded) < 60 {
            lock.unlock()
            return (hit.vocabulary, hit.prompts)
        }
        lock.unlock()
        guard let vocabulary = try database.latestVocabulary(name: name) else {
            throw VocabularyError.unknown(name: name, inbox: inbox)
        }
        let prompts = Self.prompts(vocabulary.categories, template: template)
        lock.lock()
        cache[key] = (Date(), vocabulary, prompts)
        lock.unlock()
        return (vocabulary, prompts)
    }
}

public enum VocabularyError: Error, CustomStringConvertible {
    case unknown(name: String, inbox: String)

    public var description: String {
        switch self {
        case let .unknown(name, inbox):
            return "inbox \(inbox) names vocabulary '\(name)', which is not in the database: import it with `pipelined vocab import FILE --name \(name)`"
        }
    }
}
