import Foundation
import TOMLKit

/// Builds a `Config` from the TOML file and the environment. Unknown keys are errors: a misspelled setting must not
/// silently fall back to a default.
public enum ConfigLoader {
    /// Environment variables that override the file.
    public static let environmentKeys = [
        "PIPELINED_DATABASE_URL": "database.url",
        "PIPELINED_STATE_DIR": "state_directory",
        "PIPELINED_LOG_LEVEL": "log_level",
        "PIPELINED_MODEL": "model.path",
        "PIPELINED_HTTP_LISTEN": "http.listen",
    ]

    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Config {
        var config = Config()
        if let path {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ConfigError.unreadable(path: path, reason: error.localizedDescription)
            }
            try apply(toml: text, path: path, to: &config)
        }
        if let url = environment["PIPELINED_DATABASE_URL"], !url.isEmpty { config.databaseURL = url }
        if let dir = environment["PIPELINED_STATE_DIR"], !dir.isEmpty { config.stateDirectory = dir }
        if let level = environment["PIPELINED_LOG_LEVEL"], !level.isEmpty { config.logLevel = level }
        if let model = environment["PIPELINED_MODEL"], !model.isEmpty { config.modelPath = model }
        // Set but empty means something here: the listener off.
        if let listen = environment["PIPELINED_HTTP_LISTEN"] { config.http.listen = listen }
        try validate(config)
        return config
    }

    public static func apply(toml text: String, path: String, to config: inout Config) throws {
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ConfigError.syntax(path: path, reason: "\(error.description) at \(error.source.begin)")
        } catch {
            throw ConfigError.syntax(path: path, reason: "\(error)")
        }
        var reader = TableReader(table: root, prefix: "", path: path)
        try reader.string("state_directory") { config.stateDirectory = $0 }
        try reader.string("archive_directory") { config.archiveDirectory = $0 }
        try reader.string("quarantine_directory") { config.quarantineDirectory = $0 }
        try reader.string("log_level") { config.logLevel = $0 }
        try reader.table("database") { r in try r.string("url") { config.databaseURL = $0 } }
        try reader.table("model") { r in
            try r.string("path") { config.modelPath = $0 }
            try r.string("grounding_path") { config.groundingModelPath = $0 }
            try r.strings("prompts") { config.prompts = $0 }
            try r.double("check_interval_seconds") { config.modelCheckInterval = $0 }
        }
        try reader.tableArray("inbox") { r in
            var inbox = InboxConfig(name: "", path: "")
            try r.string("name") { inbox.name = $0 }
            try r.string("path") { inbox.path = $0 }
            try r.bool("poll") { inbox.poll = $0 }
            try r.string("vocabulary") { inbox.vocabulary = $0 }
            try r.string("strategy") { inbox.strategy = $0 }
            if inbox.path.isEmpty { throw ConfigError.invalid(key: "inbox.path", value: "\"\"", expected: "a directory") }
            if inbox.name.isEmpty { inbox.name = URL(fileURLWithPath: inbox.path).lastPathComponent }
            config.inboxes.append(inbox)
        }
        try reader.table("scan") { r in
            try r.double("settle_seconds") { config.settleSeconds = $0 }
            try r.double("interval_seconds") { config.scanInterval = $0 }
            try r.double("poll_interval_seconds") { config.pollInterval = $0 }
            try r.strings("ignored_suffixes") { config.ignoredSuffixes = $0 }
        }
        try reader.table("queue") { r in
            try r.double("lease_seconds") { config.leaseSeconds = $0 }
            try r.int("max_attempts") { config.maxAttempts = $0 }
            try r.int("max_in_flight") { config.maxInFlight = $0 }
            try r.double("poll_interval_seconds") { config.claimPollInterval = $0 }
            try r.double("shutdown_budget_seconds") { config.shutdownBudgetSeconds = $0 }
        }
        try reader.table("stages") { r in
            for key in r.table.keys {
                try r.int(key) { config.stageConcurrency[key] = $0 }
            }
        }
        try reader.table("query") { r in
            try r.string("template") { config.query.template = $0 }
            try r.int("top_n") { config.query.topN = $0 }
            try r.double("score_threshold") { config.query.scoreThreshold = $0 }
            try r.double("nms_iou") { config.query.nmsIoU = $0 > 0 ? $0 : nil }   // 0 turns it off
            try r.string("strategy") { config.query.strategy = $0 }
            try r.int("shortlist_k") { config.query.shortlistK = $0 }
            try r.double("shortlist_min_score") { config.query.shortlistMinScore = $0 }
            try r.double("packed_also_above") { config.query.packedAlsoAbove = $0 }
        }
        try reader.table("http") { r in
            try r.string("listen") { config.http.listen = $0 }
            try r.string("token_file") { config.http.tokenFile = $0 }
        }
        try reader.table("labels") { r in
            try r.string("inbox") { config.labels.inbox = $0 }
            try r.string("vocabulary") { config.labels.vocabulary = $0 }
            try r.double("heldout_fraction") { config.labels.heldoutFraction = $0 }
        }
        try reader.table("finetune") { r in
            try r.bool("enabled") { config.fineTune.enabled = $0 }
            try r.int("min_new_images") { config.fineTune.minNewImages = $0 }
            try r.double("every_hours") { config.fineTune.everyHours = $0 }
            try r.double("check_interval_seconds") { config.fineTune.checkIntervalSeconds = $0 }
            try r.int("steps") { config.fineTune.steps = $0 }
            try r.int("batch") { config.fineTune.batch = $0 }
            try r.double("lr") { config.fineTune.lr = $0 }
            try r.double("lr_text_encoder") { config.fineTune.lrTextEncoder = $0 }
            try r.string("sampling") { config.fineTune.sampling = $0 }
            try r.double("repeat_threshold") { config.fineTune.repeatThreshold = $0 }
            try r.int("checkpoint_every") { config.fineTune.checkpointEvery = $0 }
            try r.int("eval_images") { config.fineTune.evalImages = $0 }
            try r.double("max_ap_drop") { config.fineTune.maxAPDrop = $0 }
            try r.double("max_apr_drop") { config.fineTune.maxAPrDrop = $0 }
            try r.int("packed_per_image") { config.fineTune.packedPerImage = $0 }
        }
        try reader.table("limits") { r in
            try r.int("max_file_bytes") { config.limits.maxFileBytes = $0 }
            try r.int("max_side") { config.limits.maxSide = $0 }
            try r.int("max_pixels") { config.limits.maxPixels = $0 }
        }
        try reader.finish()
    }

    static func validate(_ config: Config) throws {
        func positive(_ key: String, _ value: Double) throws {
            if !(value > 0) { throw ConfigError.invalid(key: key, value: "\(value)", expected: "a positive number") }
        }
        try positive("scan.interval_seconds", config.scanInterval)
        try positive("scan.poll_interval_seconds", config.pollInterval)
        try positive("queue.lease_seconds", config.leaseSeconds)
        try positive("queue.poll_interval_seconds", config.claimPollInterval)
        try positive("queue.max_attempts", Double(config.maxAttempts))
        try positive("queue.max_in_flight", Double(config.maxInFlight))
        if config.settleSeconds < 0 {
            throw ConfigError.invalid(key: "scan.settle_seconds", value: "\(config.settleSeconds)", expected: "≥ 0")
        }
        for (stage, n) in config.stageConcurrency where n < 1 {
            throw ConfigError.invalid(key: "stages.\(stage)", value: "\(n)", expected: "at least 1")
        }
        if !(0..<1).contains(config.labels.heldoutFraction) {
            throw ConfigError.invalid(key: "labels.heldout_fraction", value: "\(config.labels.heldoutFraction)", expected: "0 ≤ f < 1")
        }
        if !["uniform", "repeat_factor"].contains(config.fineTune.sampling) {
            throw ConfigError.invalid(key: "finetune.sampling", value: config.fineTune.sampling, expected: "uniform or repeat_factor")
        }
        if config.fineTune.packedPerImage < 0 {
            throw ConfigError.invalid(key: "finetune.packed_per_image", value: "\(config.fineTune.packedPerImage)", expected: "≥ 0")
        }
        for (key, n) in [("finetune.steps", config.fineTune.steps), ("finetune.batch", config.fineTune.batch),
                         ("finetune.min_new_images", config.fineTune.minNewImages), ("finetune.checkpoint_every", config.fineTune.checkpointEvery)] where n < 1 {
            throw ConfigError.invalid(key: key, value: "\(n)", expected: "at least 1")
        }
        for (key, name) in [("query.strategy", config.query.strategy)] + config.inboxes.compactMap({ i in i.strategy.map { ("inbox.strategy", $0) } })
        where !QuerySettings.strategies.contains(name) {
            throw ConfigError.invalid(key: key, value: name, expected: QuerySettings.strategies.joined(separator: ", "))
        }
        if config.query.shortlistK < (config.query.shortlistMinScore == nil ? 1 : 0) {
            throw ConfigError.invalid(key: "query.shortlist_k", value: "\(config.query.shortlistK)",
                                      expected: "≥ 1 (or ≥ 0 with shortlist_min_score): a shortlist of nothing finds nothing")
        }
        if config.query.topN < 0 { throw ConfigError.invalid(key: "query.top_n", value: "\(config.query.topN)", expected: "≥ 0") }
        for (key, value) in [("query.shortlist_min_score", config.query.shortlistMinScore), ("query.packed_also_above", config.query.packedAlsoAbove)]
        where value.map({ !(0...1).contains($0) }) == true {
            throw ConfigError.invalid(key: key, value: "\(value!)", expected: "a score between 0 and 1")
        }
        let names = config.inboxes.map(\.name)
        if Set(names).count != names.count {
            throw ConfigError.invalid(key: "inbox.name", value: names.joined(separator: ","), expected: "unique names")
        }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(config.logLevel) {
            throw ConfigError.invalid(key: "log_level", value: config.logLevel,
                                      expected: "trace, debug, info, notice, warning, error or critical")
        }
    }
}
