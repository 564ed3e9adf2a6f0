import ArgumentParser
import Detector
import Foundation
import Logging
import Pipeline
import Stages
import Store

/// swift-log may be bootstrapped once per process; a command may load its options more than once.
enum LogSetup {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var done = false

    static func bootstrap(level: Logger.Level) {
        lock.lock()
        defer { lock.unlock() }
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level) }
    }
}

/// Options shared by every subcommand: where the config is and the overrides that win over it.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "TOML configuration file.")
    var config: String?

    @Option(name: .customLong("database-url"), help: "PostgreSQL URL; without one the embedded cluster is used.")
    var databaseURL: String?

    @Option(name: .customLong("state-dir"), help: "State directory (archive, quarantine, embedded database).")
    var stateDir: String?

    @Option(name: .customLong("inbox"), help: "An inbox directory to watch (repeatable; replaces the config's list).")
    var inboxes: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .customLong("listen"), help: "HTTP listener address host:port for metrics and health (\"\" turns it off).")
    var listen: String?

    func load() throws -> (Config, Logger) {
        var config = try ConfigLoader.load(path: config)
        if let databaseURL { config.databaseURL = databaseURL }
        if let stateDir { config.stateDirectory = stateDir }
        if !inboxes.isEmpty {
            config.inboxes = inboxes.map { InboxConfig(name: URL(fileURLWithPath: $0).lastPathComponent, path: $0) }
        }
        if let logLevel { config.logLevel = logLevel }
        if let listen { config.http.listen = listen }
        LogSetup.bootstrap(level: Logger.Level(rawValue: config.logLevel) ?? .info)
        return (config, Logger(label: "pipelined"))
    }

    /// For one-shot commands: the configured database (or the embedded cluster, stopped again afterwards unless a
    /// running daemon owns it), migrated. A command that only reads (`readOnly`) never creates an embedded cluster:
    /// a mistyped --state-dir is an error, not a new 47 MB database.
    func withDatabase<T>(readOnly: Bool = false, _ body: (Config, Logger, Database) throws -> T) throws -> T {
        let (config, logger) = try load()
        if readOnly && config.databaseURL == nil
            && !FileManager.default.fileExists(atPath: config.embeddedClusterDirectory + "/data/PG_VERSION") {
            throw CommandFailure("no pipelined database in state directory \(config.stateDirectory): nothing has run there yet (check --state-dir or PIPELINED_STATE_DIR; `pipelined run` creates it)")
        }
        var cluster: EmbeddedCluster?
        defer { cluster?.stop() }
        let database = try Daemon.openDatabase(config, logger: logger, cluster: &cluster)
        defer { database.close() }
        return try body(config, logger, database)
    }
}

@main
struct Pipelined: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipelined",
        abstract: "Finds objects in images by what people say about them; results go to PostgreSQL.",
        version: PipelinedVersion.string,
        subcommands: [Run.self, Migrate.self, Status.self, Ingest.self, Detect.self, Render.self, ModelCommand.self, VocabCommand.self, LabelsCommand.self, Eval.self, Synth.self, Train.self],
        defaultSubcommand: Run.self)

    static func main() {
        BLASKernels.reexecIfGenericKernels()
        DefaultModel.locatePretrainedParts()
        // `run` is the default subcommand, so a mistyped one ("detekt") would otherwise be read as run's argument.
        if let first = CommandLine.arguments.dropFirst().first, !first.hasPrefix("-") {
            let names = configuration.subcommands.map { $0._commandName } + ["help"]
            if !names.contains(first) {
                let hint = closest(to: first, among: names, within: 2).map { " Did you mean '\($0)'?" } ?? ""
                FileHandle.standardError.write(Data("Error: unknown command '\(first)'.\(hint) Commands: \(names.dropLast().joined(separator: ", ")) (see `pipelined --help`).\n".utf8))
                Foundation.exit(64)
            }
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// A command that cannot do what was asked, said in one line (ValidationError would add the usage text).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The name a user probably meant: the nearest of `names`, if it is at most `within` edits away.
func closest(to name: String, among names: [String], within: Int) -> String? {
    names.min { editDistance($0, name) < editDistance($1, name) }.flatMap { editDistance($0, name) <= within ? $0 : nil }
}

/// Levenshtein distance, for suggesting the command a user meant.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let substitution = previous + (a[i - 1] == b[j - 1] ? 0 : 1)
            previous = row[j]
            row[j] = min(substitution, row[j] + 1, row[j - 1] + 1)
        }
    }
    return a.isEmpty ? b.count : row[b.count]
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (watch inboxes, process images).")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let (config, logger) = try options.load()
        let switcher = ModelSwitcherHandle()
        let daemon = Daemon(config: config, configPath: options.config, logger: logger, labels: LabelImporter.daemonFactory) { database, config in
            var config = config
            if DefaultModel.isDisabled(config) { return nil }
            if config.modelPath == nil, let directory = DefaultModel.directory {
                config.modelPath = directory
                logger.info("no model configured: using the default model", metadata: ["path": "\(directory)"])
                // Its MDETR companion answers caption sidecars, unless another (or "none") is configured.
                if config.groundingModelPath == nil { config.groundingModelPath = DefaultModel.groundingDirectory }
            }
            guard let path = config.modelPath else { return nil }
            try DefaultModel.checkPretrainedParts(for: path)
            // Every version the daemon runs keeps boxes above the configured threshold, as `detect` does; unset, each
            // model its own (scores mean different things in MDETR and DetCLIPv2).
            let threshold = config.query.scoreThreshold.map(Float.init)
            if let threshold, threshold <= 0 {
                // An older configuration's 0 (it used to apply to vocabularies only) now keeps every box of every prompt.
                logger.notice("score_threshold = 0 keeps every box of every question (up to top_n per image); leave it unset for the model's own threshold",
                              metadata: ["top_n": "\(config.query.topN)"])
            }
            // Either family: the manifest says which network a model directory holds.
            let load: @Sendable (String) throws -> any ImageDetector = { path in
                let detector = try ModelPackage.loadDetector(path)
                if let threshold {
                    // An installed config from before per-model thresholds says 0.7, MDETR's value: with a DetCLIPv2
                    // model (scores seldom above 0.6) that keeps almost nothing, so say so rather than store nothing.
                    if threshold > detector.threshold {
                        logger.notice("the configured score_threshold keeps fewer boxes than this model is best read at; leave [query] score_threshold unset to use each model's own",
                                      metadata: ["model": "\(detector.identity.name)@\(detector.identity.version)",
                                                 "score_threshold": "\(threshold)", "model_threshold": "\(String(format: "%.4f", detector.threshold))"])
                    }
                    detector.threshold = threshold
                }
                return detector
            }
            let detector = try load(path)
            // A prompt the model cannot read would fail every job: refuse it now, with the reason.
            for prompt in config.effectivePrompts { try detector.check(prompt: prompt) }
            logger.info("model loaded", metadata: ["model": "\(detector.identity.name)@\(detector.identity.version)",
                                                   "score_threshold": "\(String(format: "%.4f", detector.threshold))\(threshold == nil ? " (the model's own)" : "")"])
            // The models table decides which version runs (a fine-tuned or promoted one); checked between jobs. Inboxes
            // told to ask nothing in particular ask the running model's own vocabulary, so the questions follow it.
            let active = try ActiveModel(database: database, configured: detector, path: URL(fileURLWithPath: path).standardizedFileURL.path,
                                         metricsJSON: Self.manifestMetrics(path), logger: logger,
                                         vocabularyOf: { try DefaultModel.ownVocabulary(path: $0, modelID: $1, database: database) },
                                         load: { try load($0) })
            let own = active.slot.model.vocabulary
            for inbox in config.effectiveInboxes {
                // What every image of the inbox will be asked (a sidecar may add or replace questions per image).
                let asks = inbox.vocabulary.map { "vocabulary \($0) (newest version)" }
                    ?? config.prompts.map { "prompts \($0)" }
                    ?? own.map { "vocabulary \($0), the active model's own (prompts \(Config.defaultPrompts) with a model that has none)" }
                    ?? "prompts \(Config.defaultPrompts)"
                logger.info("inbox questions", metadata: ["inbox": "\(inbox.name)", "asks": "\(asks)"])
            }
            switcher.active = active
            // A second model for caption sidecars, fixed for the daemon's life (promotions switch the main one).
            var grounding: (any ImageDetector)?
            if let groundingPath = config.groundingModelPath, groundingPath != "none" {
                try DefaultModel.checkPretrainedParts(for: groundingPath)
                let model = try load(groundingPath)
                logger.info("grounding model loaded: caption sidecars go to it",
                            metadata: ["model": "\(model.identity.name)@\(model.identity.version)", "path": "\(groundingPath)"])
                grounding = model
            }
            return StandardStages.make(database: database, config: config, slot: active.slot, grounding: grounding, prompts: config.prompts)
        }
        daemon.makeServices = { database, config in
            var services: [any DaemonService] = []
            if let active = switcher.active {
                // Checks which version PostgreSQL calls active and swaps it in between jobs.
                services.append(FixedService(name: "model switcher", config: config,
                                             settings: { ["model.check_interval_seconds": "\($0.modelCheckInterval)"] },
                                             start: { active.watch(every: config.modelCheckInterval) },
                                             stop: { _ in active.stopWatching() }))
            }
            if config.fineTune.enabled, !DefaultModel.isDisabled(config) {
                let tuner = FineTuner(database: database, settings: config.fineTune, labels: config.labels,
                                      stateDirectory: config.stateDirectory, archiveRoot: config.archiveRoot, logger: logger)
                services.append(FixedService(name: "fine-tuner", config: config,
                                             settings: { ["finetune": "\($0.fineTune)", "labels": "\($0.labels)"] },
                                             start: { tuner.start() }, stop: { _ in tuner.stop() }))
            }
            return services
        }
        do {
            throw ExitCode(try daemon.run())
        } catch let error as ExitCode {
            throw error
        } catch {
            logger.critical("daemon cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}

/// The active-model watcher the stage factory makes, handed to the model-switcher service started after it.
final class ModelSwitcherHandle: @unchecked Sendable {
    var active: ActiveModel?
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")
    @OptionGroup var options: CommonOptions

    func run() throws {
        try options.withDatabase { _, _, _ in
            print("schema is at version \(Migration.embedded.last?.version ?? 0)")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show queue counts and recent failures.")
    @OptionGroup var options: CommonOptions

    func run() throws {
        let (status, config) = try options.withDatabase(readOnly: true) { config, _, database in (try database.queueStatus(), config) }
        print("state directory: \(config.stateDirectory)")
        print("database: \(config.databaseDescription)")
        print("jobs:")
        for state in ["available", "running", "retryable", "done", "discarded", "cancelled"] {
            print("  \(state.padding(toLength: 10, withPad: " ", startingAt: 0)) \(status.counts[state] ?? 0)")
        }
        print("quarantined images: \(status.quarantined)")
        if !status.recentFailures.isEmpty {
            print("recent failures:")
            for failure in status.recentFailures { print("  \(failure.name) [\(failure.kind)] \(failure.reason)") }
        }
    }
}

extension Run {
    /// The metrics a model directory's manifest records (the default model's test-split AP…), as JSON; "{}" for a
    /// checkpoint file or a manifest without them.
    static func manifestMetrics(_ path: String) -> String {
        guard let metrics = (try? ModelPackage.manifest(directory: path))?.metrics,
              let json = try? JSONSerialization.data(withJSONObject: metrics, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: json, as: UTF8.self)
    }
}

struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ingest files once (they must lie in a configured inbox) and exit.")
    @OptionGroup var options: CommonOptions
    @Argument(help: "Files or directories inside an inbox.")
    var paths: [String]

    func run() throws {
        try options.withDatabase { config, logger, database in try ingest(config, logger, database) }
    }

    private func ingest(_ config: Config, _ logger: Logger, _ database: Database) throws {
        let ingestor = Ingestor(database: database, inboxes: config.effectiveInboxes,
                                ignoredSuffixes: config.ignoredSuffixes, archiveRoot: config.archiveRoot,
                                maxAttempts: config.maxAttempts, logger: logger)
        var created = 0, duplicates = 0, skipped = 0, refused = 0, outside = 0
        for path in expand(paths) {
            switch try ingestor.ingest(path: path) {
            case .created: created += 1
            case .duplicate: duplicates += 1
            case let .skipped(reason):
                skipped += 1
                if reason == Ingestor.outsideInboxes { outside += 1 }
                print("skipped \(path): \(reason)")
            case let .refused(kind, reason, _):
                refused += 1
                print("refused \(path) (\(kind)): \(reason)")
            }
        }
        print("ingested \(created) new, \(duplicates) duplicate, \(skipped) skipped, \(refused) refused")
        if outside > 0 {
            throw CommandFailure("\(outside) of the files lie outside every configured inbox (\(config.effectiveInboxes.map(\.path).joined(separator: ", "))): move them into one, or name the inbox with --inbox")
        }
    }

    private func expand(_ paths: [String]) -> [String] {
        paths.flatMap { path -> [String] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                return [path]
            }
            let base = URL(fileURLWithPath: path)
            let items = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
            return items.sorted().map { base.appendingPathComponent($0).path }
                .filter { (try? FileManager.default.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeRegular }
        }
    }
}
