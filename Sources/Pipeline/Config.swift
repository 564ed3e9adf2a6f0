import Foundation

/// One watched inbox directory.
public struct InboxConfig: Sendable, Equatable {
    /// The name recorded with every image that arrives here.
    public var name: String
    public var path: String
    /// Poll instead of relying on inotify (NFS, SMB and other filesystems where inotify sees nothing).
    public var poll: Bool
    /// The vocabulary (by name, newest version) every image of this inbox is queried with; nil uses `model.prompts`.
    public var vocabulary: String?
    /// How this inbox's vocabulary is asked, overriding `[query] strategy`.
    public var strategy: String?

    public init(name: String, path: String, poll: Bool = false, vocabulary: String? = nil, strategy: String? = nil) {
        self.name = name
        self.path = path
        self.poll = poll
        self.vocabulary = vocabulary
        self.strategy = strategy
    }
}

/// How vocabularies are queried and merged (LVIS conventions by default).
public struct QuerySettings: Sendable, Equatable {
    /// `auto` (the model's own: `clean_name` for MDETR, `name_and_definition` for DetCLIPv2), `clean_name`,
    /// `name_and_definition`, or a template with `{name}` / `{definition}`.
    public var template = "auto"
    public var topN = 300
    /// One score threshold for every question the daemon asks (prompts, sidecars, vocabularies) and for
    /// `pipelined detect`, so what a user sees from `detect` is what the daemon stores. nil: the running model's own
    /// (its manifest's F1-best `scoreThreshold`, else the family's default: MDETR's demo 0.7, DetCLIPv2 0.5) — scores
    /// mean different things in the two families. 0 keeps every box (the LVIS protocol, which `pipelined eval`
    /// keeps whatever this says).
    public var scoreThreshold: Double?
    /// Class-wise NMS IoU; nil for none. On by default for the daemon: without it an image's top detections are
    /// near-copies of one box. `pipelined eval` keeps the official protocol (none) unless asked.
    public var nmsIoU: Double? = 0.5
    /// How a vocabulary is asked: `exact` (one prompt per category, MDETR's LVIS protocol), `packed` (as many
    /// categories per caption as fit), `shortlist` (packed passes rank the categories, the best `shortlist_k` and any
    /// scoring ≥ `shortlist_min_score` are asked exactly) or `auto`: `shortlist` for a model trained with packed
    /// records, else `exact` — a model that never saw packed captions cannot answer them (docs/detector.md has the
    /// measurements).
    public var strategy = "auto"
    public static let strategies = ["auto", "exact", "packed", "shortlist"]
    public var shortlistK = 25
    public var shortlistMinScore: Double?
    /// `packed`: a query also yields every other category of its caption scoring above this (nil: its best only).
    public var packedAlsoAbove: Double?

    public init() {}
}

/// Limits on what the decoder accepts; a file beyond them is quarantined, not decoded.
public struct ImageLimits: Sendable, Equatable {
    public var maxFileBytes = 64 << 20
    public var maxSide = 16_384
    public var maxPixels = 64_000_000

    public init() {}
}

/// The daemon's configuration: embedded defaults, then the TOML file, then environment variables, then flags.
public struct Config: Sendable, Equatable {
    public var inboxes: [InboxConfig] = []
    /// Holds the archive, quarantine and (embedded default) the PostgreSQL cluster unless those are set.
    public var stateDirectory: String
    public var archiveDirectory: String?
    public var quarantineDirectory: String?
    /// A libpq URL; nil starts the embedded cluster in the state directory.
    public var databaseURL: String?
    public var logLevel = "info"

    /// Seconds a file must be unchanged before a scan ingests it (a writer may still be busy with it).
    public var settleSeconds = 2.0
    /// Seconds between reconciliation scans (and between polls for polled inboxes).
    public var scanInterval = 60.0
    public var pollInterval = 5.0
    /// Suffixes of partial files that are never ingested.
    public var ignoredSuffixes = [".tmp", ".part", ".crdownload", ".partial", ".download", ".swp", "~", ".filepart"]

    public var leaseSeconds = 300.0
    public var maxAttempts = 5
    /// Jobs held in memory at once, across all stages: the backpressure bound.
    public var maxInFlight = 8
    public var claimPollInterval = 5.0
    public var shutdownBudgetSeconds = 30.0
    public var stageConcurrency: [String: Int] = ["decode": 2, "detect": 1, "record": 2]

    public var limits = ImageLimits()
    /// Path of the detector model; nil means no model is configured.
    public var modelPath: String?
    /// A second model for caption sidecars (modulated, caption-level grounding: MDETR) beside `modelPath` (which then
    /// answers vocabularies and prompts in one pass: DetCLIPv2). nil: the one model answers everything.
    public var groundingModelPath: String?
    /// Seconds between checks of which model version PostgreSQL calls active.
    public var modelCheckInterval = 5.0
    /// What the detect stage asks about images of inboxes without a vocabulary (`[model] prompts`); nil when the
    /// config names none: the default model then asks its own vocabulary, any other model `defaultPrompts`.
    public var prompts: [String]?
    public static let defaultPrompts = ["an object"]
    public var effectivePrompts: [String] { prompts ?? Self.defaultPrompts }
    public var query = QuerySettings()
    /// Metrics, health and readiness over HTTP (loopback by default; `listen = ""` turns it off).
    public var http = HTTPSettings()
    /// The labels inbox and how labelled images are split (issue 6).
    public var labels = LabelSettings()
    /// When and how the daemon fine-tunes itself on those labels.
    public var fineTune = FineTuneSettings()

    public init(stateDirectory: String = Config.defaultStateDirectory) {
        self.stateDirectory = stateDirectory
    }

    public var archiveRoot: String { archiveDirectory ?? stateDirectory + "/archive" }
    public var quarantineRoot: String { quarantineDirectory ?? stateDirectory + "/quarantine" }
    public var embeddedClusterDirectory: String { stateDirectory + "/postgres" }

    /// Where the database is, for people: the configured URL without its password, or how to reach the embedded
    /// cluster with psql.
    public var databaseDescription: String {
        guard let url = databaseURL else {
            return "embedded, psql \"host=\(embeddedClusterDirectory)/run user=pipelined dbname=pipelined\""
        }
        return url.replacingOccurrences(of: #"password=\S*"#, with: "password=…", options: .regularExpression)
            .replacingOccurrences(of: #"(://[^:/@]*):[^@/]*@"#, with: "$1:…@", options: .regularExpression)
    }
    public var labelsInbox: String { labels.inbox ?? stateDirectory + "/labels" }

    /// `/var/lib/pipelined` for root, `$XDG_STATE_HOME/pipelined` (or `~/.local/state/pipelined`) otherwise; systemd's
    /// `$STATE_DIRECTORY` wins when set.
    public static var defaultStateDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["STATE_DIRECTORY"], !dir.isEmpty { return dir.split(separator: ":").first.map(String.init) ?? dir }
        if geteuid() == 0 { return "/var/lib/pipelined" }
        if let xdg = env["XDG_STATE_HOME"], !xdg.isEmpty { return xdg + "/pipelined" }
        return FileManager.default.homeDirectoryForCurrentUser.path + "/.local/state/pipelined"
    }

    /// With no inbox configured the daemon watches `<state>/inbox`.
    public var effectiveInboxes: [InboxConfig] {
        inboxes.isEmpty ? [InboxConfig(name: "default", path: stateDirectory + "/inbox")] : inboxes
    }
}
