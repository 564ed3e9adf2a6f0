/// A category as stored with a vocabulary version.
public struct VocabularyCategory: Sendable, Equatable {
    public var id: Int?            // the row id, once stored
    public var externalID: Int?    // the id in the source file
    public var name: String
    public var synonyms: [String]
    public var definition: String?
    public var frequency: String?
    public var imageCount: Int?

    public init(id: Int? = nil, externalID: Int?, name: String, synonyms: [String] = [], definition: String? = nil,
                frequency: String? = nil, imageCount: Int? = nil) {
        self.id = id
        self.externalID = externalID
        self.name = name
        self.synonyms = synonyms
        self.definition = definition
        self.frequency = frequency
        self.imageCount = imageCount
    }
}

/// A stored vocabulary version with its categories.
public struct StoredVocabulary: Sendable {
    public var id: Int
    public var name: String
    public var version: Int
    public var categories: [VocabularyCategory]
}

extension Database {
    static let nextVocabularyVersion = Statement("vocabularies.next_version", """
        INSERT INTO vocabularies (name, version, source)
        SELECT $1, coalesce(max(version), 0) + 1, $2 FROM vocabularies WHERE name = $1
        RETURNING id, version
        """)
    static let lockVocabularyName = Statement("vocabularies.lock_name",
                                              "SELECT pg_advisory_xact_lock(hashtext('pipelined.vocabulary.' || $1))")

    /// Stores a new version of the vocabulary `name` (versions count up from 1), all categories or none.
    public func importVocabulary(name: String, source: String, categories: [VocabularyCategory]) throws -> StoredVocabulary {
        try transaction { conn in
            try conn.query(Self.lockVocabularyName, [name])
            guard let row = try conn.query(Self.nextVocabularyVersion, [name, source]).first else {
                throw StoreError.query(statement: Self.nextVocabularyVersion.name, sqlState: "XX000", message: "no row", detail: nil)
            }
            let id = try row.int("id"), version = try row.int("version")
            try conn.copy(into: "categories",
                          columns: ["vocabulary_id", "external_id", "name", "synonyms", "definition", "frequency", "image_count"],
                          rows: categories.map { c in
                              [id, c.externalID, c.name, c.synonyms, c.definition, c.frequency, c.imageCount]
                          })
            return StoredVocabulary(id: id, name: name, version: version,
                                    categories: try Self.categories(conn, vocabularyID: id))
        }
    }

    static let latestVocabulary = Statement("vocabularies.latest", """
        SELECT id, version FROM vocabularies WHERE name = $1 ORDER BY version DESC LIMIT 1
        """)
    static let vocabularyCategories = Statement("vocabularies.categories", """
        SELECT id, external_id, name, definition, frequency, image_count
        FROM categories WHERE vocabulary_id = $1::bigint ORDER BY coalesce(external_id, id), id
        """)

    /// The newest version of a vocabulary, or nil when there is none by that name.
    public func latestVocabulary(name: String) throws -> StoredVocabulary? {
        try withConnection { conn in
            guard let row = try conn.query(Self.latestVocabulary, [name]).first else { return nil }
            let id = try row.int("id")
            return StoredVocabulary(id: id, name: name, version: try row.int("version"),
                                    categories: try Self.categories(conn, vocabularyID: id))
        }
    }

    static func categories(_ conn: PGConnection, vocabularyID: Int) throws -> [VocabularyCategory] {
        try conn.query(vocabularyCategories, [vocabularyID]).map { r in
            VocabularyCategory(id: try r.int("id"), externalID: try r.optionalInt("external_id"), name: try r.string("name"),
                               synonyms: [], definition: r["definition"], frequency: r["frequency"],
                               imageCount: try r.optionalInt("image_count"))
        }
    }

    static let vocabularyList = Statement("vocabularies.list", """
        SELECT v.name, v.version, v.source, count(c.id) AS categories,
               to_char(v.created_at, 'YYYY-MM-DD HH24:MI:SS') AS created
        FROM vocabularies v LEFT JOIN categories c ON c.vocabulary_id = v.id
        GROUP BY v.id ORDER BY v.name, v.version
        """)

    public func vocabularies() throws -> [(name: String, version: Int, source: String, categories: Int, created: String)] {
        try query(Self.vocabularyList).map {
            (try $0.string("name"), try $0.int("version"), try $0.string("source"), try $0.int("categories"),
             try $0.string("created"))
        }
    }
}
