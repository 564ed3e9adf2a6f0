import Foundation
@testable import Store
import TestSupport
import Testing

/// The shipped `pipelined` binary (no stand-in detector anywhere).
@Suite struct CommandLineTests {
    func run(_ arguments: [String], asUser user: String? = nil, executable: String = BuiltProducts.path("pipelined")) throws -> (status: Int32, output: String) {
        let process = Process()
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            process.arguments = ["-u", user, "--", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: BuiltProducts.path("pipelined"))
            process.arguments = arguments
        }
        let dir = TemporaryDirectory("cli-out")
        let outPath = dir.file("out")
        FileManager.default.createFile(atPath: outPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardOutput = out
        process.standardError = out
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    }

    @Test func withoutAModelTheDaemonSaysSoAndLeavesJobsQueued() throws {
        // The embedded default: no database URL, a private cluster in the state directory.
        let dir = TemporaryDirectory("nomodel")
        let state = dir.file("s")
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"),
                                       arguments: ["run", "--state-dir", state, "--log-level", "info"],
                                       logPath: dir.file("log"), environment: ["PIPELINED_MODEL": "none"])
        defer { daemon.terminate() }
        // Logged after the watcher starts: waited for, not read at once.
        #expect(eventually(timeout: 60) { daemon.log.contains("no model configured") }, "\(daemon.log)")
        FileManager.default.createFile(atPath: state + "/inbox/cat.png", contents: TinyPNG.sample(seed: 1))
        #expect(eventually(timeout: 10) { daemon.log.contains("image ingested") })
        let url = "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined"
        let pending = try Database(url: url).query(Statement("cli.pending", "SELECT original_name, state FROM pending_jobs"))
        #expect(pending.count == 1 && pending.first?["state"] == "available")
        #expect(daemon.terminate() == 0)
        #expect(daemon.log.contains("embedded PostgreSQL stopped"))
        #expect(throws: StoreError.self) { _ = try PGConnection(url: url) }
    }

    @Test func ingestAndStatusAgainstAConfiguredDatabase() throws {
        let url = try TestDatabase.fresh()
        let dir = TemporaryDirectory("cli")
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox + "/sub", withIntermediateDirectories: true)
        for i in 0..<3 { FileManager.default.createFile(atPath: inbox + "/sub/\(i).png", contents: TinyPNG.sample(seed: 500 + i)) }
        FileManager.default.createFile(atPath: inbox + "/dup.png", contents: TinyPNG.sample(seed: 500))
        let common = ["--database-url", url, "--state-dir", dir.file("state"), "--inbox", inbox]
        let ingest = try run(["ingest"] + common + [inbox])
        #expect(ingest.status == 0, "\(ingest.output)")
        #expect(ingest.output.contains("ingested 3 new, 1 duplicate, 0 skipped"), "\(ingest.output)")
        let status = try run(["status"] + common)
        #expect(status.status == 0)
        #expect(status.output.contains("available  3"), "\(status.output)")
    }

    /// What a newcomer trips over says what happened and what to do.
    @Test func mistakesGetErrorsThatSayWhatToDo() throws {
        let typo = try run(["detekt", "photo.jpg"])
        #expect(typo.status == 64 && typo.output.contains("unknown command 'detekt'. Did you mean 'detect'?"), "\(typo.output)")

        let dir = TemporaryDirectory("cli-errors")
        let missing = dir.file("no-such-state")
        let status = try run(["status", "--state-dir", missing])
        #expect(status.status == 1 && status.output.contains("no pipelined database in state directory \(missing)"), "\(status.output)")
        #expect(!FileManager.default.fileExists(atPath: missing), "a read-only command created a state directory")

        let directory = try run(["detect", dir.path, "--prompt", "a cat", "--model", "never-loaded.pth"])
        #expect(directory.status != 0 && directory.output.contains("it is a directory, not an image file"), "\(directory.output)")

        let url = try TestDatabase.fresh()
        FileManager.default.createFile(atPath: dir.file("elsewhere.png"), contents: TinyPNG.sample(seed: 3))
        let outside = try run(["ingest", "--database-url", url, "--state-dir", dir.file("state"), "--inbox", dir.file("inbox"),
                               dir.file("elsewhere.png")])
        #expect(outside.status == 1 && outside.output.contains("outside every configured inbox"), "\(outside.output)")

        let shown = try run(["status", "--database-url", url + " password=hunter2", "--state-dir", dir.file("state")])
        #expect(shown.output.contains("state directory: \(dir.file("state"))") && !shown.output.contains("hunter2"), "\(shown.output)")
    }

    @Test func migrateRefusesADatabaseNewerThanTheBinary() throws {
        let url = try TestDatabase.fresh(migrated: true)
        try PGConnection(url: url).query(Statement("cli.future", """
            INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')
            """))
        let result = try run(["migrate", "--database-url", url])
        #expect(result.status != 0)
        #expect(result.output.contains("upgrade pipelined"), "\(result.output)")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to switch to an ordinary user"))
    func embeddedDefaultWorksForAnOrdinaryUser() throws {
        let dir = TemporaryDirectory("user")
        let state = dir.file("s")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        _ = try run(["--help"])  // the binary is reachable
        let chown = Process()
        chown.executableURL = URL(fileURLWithPath: "/bin/chown")
        chown.arguments = ["nobody", state]
        try chown.run()
        chown.waitUntilExit()
        // A copy the user can execute wherever the checkout is (a clone under /root is not reachable by nobody).
        chmod(dir.path, 0o755)
        try FileManager.default.copyItem(atPath: BuiltProducts.path("pipelined"), toPath: dir.file("pipelined"))
        let result = try run(["migrate", "--state-dir", state], asUser: "nobody", executable: dir.file("pipelined"))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("schema is at version"))
        var st = stat()
        #expect(stat(state + "/postgres/data/PG_VERSION", &st) == 0 && st.st_uid == getpwnam("nobody").pointee.pw_uid)
    }
}

/// The detector through the shipped binary: `detect`, `model import|list`, and the daemon running a real model.
@Suite struct DetectorCommandLineTests {
    static let checkpoint = BuiltProducts.packageRoot + "/Tests/DetectorTests/Fixtures/mdetr_end_to_end/checkpoint.pth"

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) { try runPipelined(arguments) }

    @Test func detectPrintsJSONAndRawOutputs() throws {
        let dir = TemporaryDirectory("det")
        let image = dir.file("star.png")
        FileManager.default.createFile(atPath: image, contents: TinyPNG.sample(seed: 3, width: 64, height: 48))
        let result = try run(["detect", image, "--prompt", "a small striped red star", "--model", Self.checkpoint,
                              "--threshold", "0"])
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let detections = try #require(json["detections"] as? [[String: Any]])
        #expect(detections.count == 10)
        #expect((detections.first?["box"] as? [Double])?.count == 4)

        let raw = try run(["detect", image, "--prompt", "a star", "--model", Self.checkpoint, "--raw"])
        #expect(raw.status == 0, "\(raw.output)")
        let rawJSON = try #require(try JSONSerialization.jsonObject(with: Data(raw.output.utf8)) as? [String: Any])
        let query = try #require((rawJSON["queries"] as? [[String: Any]])?.first)
        #expect((query["logits"] as? [[Double]])?.count == 10 && (query["logits"] as? [[Double]])?.first?.count == 256)
        #expect((query["ids"] as? [Int])?.first == 0)

        let phrased = try run(["detect", image, "--prompt", "a small striped red star", "--phrase", "striped",
                               "--phrase", "red star", "--model", Self.checkpoint, "--threshold", "0"])
        #expect(phrased.status == 0, "\(phrased.output)")
        let phrasedJSON = try #require(try JSONSerialization.jsonObject(with: Data(phrased.output.utf8)) as? [String: Any])
        let first = try #require((phrasedJSON["detections"] as? [[String: Any]])?.first)
        #expect((first["phrase_scores"] as? [String: Double])?.keys.sorted() == ["red star", "striped"])
        let missing = try run(["detect", image, "--prompt", "a star", "--phrase", "moon", "--model", Self.checkpoint])
        #expect(missing.status != 0 && missing.output.contains("does not occur"), "\(missing.output)")

        let empty = try run(["detect", image, "--prompt", "  ", "--model", Self.checkpoint])
        #expect(empty.status != 0 && empty.output.contains("prompt is empty"), "\(empty.output)")
    }

    @Test func importListAndTheDaemonRecordsDetectionsWithProvenance() throws {
        let url = try TestDatabase.fresh()
        let dir = TemporaryDirectory("imp")
        let common = ["--database-url", url, "--state-dir", dir.file("state")]
        let imported = try run(["model", "import", Self.checkpoint, "--name", "tiny", "--output", dir.file("model")] + common)
        #expect(imported.status == 0 && imported.output.contains("registered as model"), "\(imported.output)")
        let list = try run(["model", "list"] + common)
        #expect(list.output.contains("\ttiny@"), "\(list.output)")

        let config = dir.file("p.toml")
        try """
            state_directory = "\(dir.file("state"))"
            [database]
            url = "\(url)"
            [model]
            path = "\(dir.file("model"))"
            prompts = ["a small striped red star"]
            check_interval_seconds = 0.5
            [[inbox]]
            name = "in"
            path = "\(dir.file("inbox"))"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--config", config],
                                       logPath: dir.file("daemon.log"))
        defer { daemon.terminate() }
        #expect(eventually(timeout: 60) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
        FileManager.default.createFile(atPath: dir.file("inbox/shot.png"), contents: TinyPNG.sample(seed: 9, width: 80, height: 60))
        let db = Database(url: url)
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let row = try #require(try db.query(Statement("det.prov", """
            SELECT p.model_version, p.weights_sha256, p.settings ->> 'prompts' AS prompts,
                   (SELECT count(*) FROM detections) AS n
            FROM provenance p
            """)).first)
        #expect(try row.string("model_version").hasPrefix("tiny@"))
        #expect(try row.string("prompts") == "a small striped red star")

        // Another version promoted while the daemon runs: the next image is processed by it, and provenance links
        // each image to the registered version that produced it. Rollback puts the first one back.
        let second = try run(["model", "import", Self.checkpoint, "--name", "tiny2", "--output", dir.file("model2")] + common)
        #expect(second.status == 0, "\(second.output)")
        let version = try row.string("model_version").dropFirst("tiny@".count)
        let promoted = try run(["model", "promote", "tiny2@\(version)", "--reason", "test"] + common)
        #expect(promoted.status == 0 && promoted.output.contains("tiny2@\(version) is now active"), "\(promoted.output)")
        #expect(eventually(timeout: 30) { daemon.log.contains("model switched") }, "\(daemon.log.suffix(2000))")
        FileManager.default.createFile(atPath: dir.file("inbox/after.png"), contents: TinyPNG.sample(seed: 10, width: 80, height: 60))
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 2 }, "\(daemon.log.suffix(2000))")
        let producers = try db.query(Statement("det.producers", """
            SELECT i.original_name, p.model_version, m.status FROM provenance p JOIN images i ON i.id = p.image_id
            JOIN models m ON m.id = p.model_id ORDER BY p.id
            """)).map { "\($0["original_name"] ?? "") \($0["model_version"] ?? "") \($0["status"] ?? "")" }
        #expect(producers == ["shot.png tiny@\(version) retired", "after.png tiny2@\(version) active"])
        let rollback = try run(["model", "rollback"] + common)
        #expect(rollback.status == 0 && rollback.output.contains("tiny@\(version) is active again"), "\(rollback.output)")
        let lineage = try run(["model", "list"] + common)
        #expect(lineage.output.contains("tiny2@\(version)\tretired"), "\(lineage.output)")
        #expect(daemon.terminate() == 0)
    }
}

@Suite struct EvalCommandLineTests {
    @Test func scoresAResultsFileLikeTheOfficialPackage() throws {
        let fixture = BuiltProducts.packageRoot + "/Tests/DetectorTests/Fixtures/lvis_eval/good_detector.json"
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture))) as? [String: Any])
        let dir = TemporaryDirectory("eval")
        try JSONSerialization.data(withJSONObject: json["gt"]!).write(to: URL(fileURLWithPath: dir.file("gt.json")))
        try JSONSerialization.data(withJSONObject: json["results"]!).write(to: URL(fileURLWithPath: dir.file("dt.json")))
        let expected = try #require((json["expected"] as? [String: [String: Double]])?["standard"])
        let evaluated = try runPipelined(["eval", "--annotations", dir.file("gt.json"), "--detections",
                                          dir.file("dt.json"), "--json", dir.file("metrics.json")], timeout: 60)
        #expect(evaluated.status == 0, "\(evaluated.output)")
        #expect(evaluated.output.contains("AP50"))
        let metrics = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("metrics.json")))) as? [String: Double])
        for (key, value) in expected { #expect(abs((metrics[key] ?? -9) - value) <= 1e-6, "\(key)") }

        FileManager.default.createFile(atPath: dir.file("bad.json"), contents: Data("{\"images\": 3}".utf8))
        let bad = try runPipelined(["eval", "--annotations", dir.file("bad.json"), "--detections", dir.file("dt.json")],
                                   timeout: 60)
        #expect(bad.status != 0)
        #expect(bad.output.contains("not a valid LVIS/COCO file"), "\(bad.output)")
    }

    /// `synth` renders a dataset, `eval --images` runs a model over it, stores the run and exports the detections,
    /// and scoring the export gives the same metrics.
    @Test func runsAModelOverASyntheticDatasetAndStoresTheRun() throws {
        let url = try TestDatabase.fresh()
        let dir = TemporaryDirectory("evimg")
        let synth = try runPipelined(["synth", "--seed", "3", "--categories", "5", "--train", "6", "--val", "0", "--test", "3",
                                      "--out", dir.file("synth"), "--quiet"])
        #expect(synth.status == 0, "\(synth.output)")
        #expect(synth.output.contains("dataset card"))
        let common = ["--database-url", url, "--state-dir", dir.file("state")]
        let run = try runPipelined(["eval", "--annotations", dir.file("synth/lvis_v1_test.json"), "--images", dir.file("synth/images"),
                                    "--model", DetectorCommandLineTests.checkpoint, "--export", dir.file("dt.json"),
                                    "--json", dir.file("m1.json"), "--quiet"] + common, timeout: 300)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("stored as evaluation run"), "\(run.output)")
        let db = Database(url: url)
        let stored = try #require(try db.query(Statement("evimg.run", """
            SELECT images, protocol, ap, settings ->> 'top_n' AS top_n,
                   (SELECT count(*) FROM evaluation_category_ap) AS categories
            FROM evaluation_summary
            """)).first)
        #expect(try stored.int("images") == 3 && stored.string("protocol") == "standard" && stored["top_n"] == "300")
        #expect(try stored.int("categories") == 5)
        let rescored = try runPipelined(["eval", "--annotations", dir.file("synth/lvis_v1_test.json"), "--detections", dir.file("dt.json"),
                                         "--json", dir.file("m2.json")], timeout: 60)
        #expect(rescored.status == 0, "\(rescored.output)")
        let m1 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("m1.json")))) as? [String: Double])
        let m2 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("m2.json")))) as? [String: Double])
        #expect(m1.count == 13 && Set(m1.keys) == Set(m2.keys))
        for (key, value) in m1 { #expect(abs(value - (m2[key] ?? -9)) < 1e-9, "\(key)") }
        #expect(abs((m1["AP"] ?? -9) - (try stored.double("ap"))) < 1e-9)
    }
}

@Suite struct VocabularyEndToEndTests {
    @Test func anInboxWithAVocabularyRecordsCategoriesPromptsAndSettings() throws {
        let url = try TestDatabase.fresh()
        let dir = TemporaryDirectory("voc")
        let common = ["--database-url", url, "--state-dir", dir.file("state")]
        let run = { (args: [String]) in try runPipelined(args) }
        let model = try run(["model", "import", DetectorCommandLineTests.checkpoint, "--name", "tiny",
                             "--output", dir.file("model"), "--no-register"] + common)
        #expect(model.status == 0, "\(model.output)")
        try "# shapes\nred star\nblue_circle\nbow_(weapon)\n".write(toFile: dir.file("shapes.txt"), atomically: true, encoding: .utf8)
        let imported = try run(["vocab", "import", dir.file("shapes.txt"), "--name", "shapes"] + common)
        #expect(imported.output.contains("imported 3 categories as shapes version 1"), "\(imported.output)")
        try """
            {"categories": [{"id": 3, "name": "bow_(weapon)", "frequency": "r", "synonyms": ["bow"], "def": "a weapon", "image_count": 4},
                            {"id": 5, "name": "teddy_bear", "frequency": "f", "image_count": 400}]}
            """.write(toFile: dir.file("lvis.json"), atomically: true, encoding: .utf8)
        let lvis = try run(["vocab", "import", dir.file("lvis.json"), "--name", "lvis-mini"] + common)
        #expect(lvis.output.contains("imported 2 categories as lvis-mini version 1 (lvis)"), "\(lvis.output)")
        try #"{"categories": [{"id": 1, "name": "x", "frequency": "sometimes"}]}"#
            .write(toFile: dir.file("badfreq.json"), atomically: true, encoding: .utf8)
        let badFrequency = try run(["vocab", "import", dir.file("badfreq.json"), "--name", "bad"] + common)
        #expect(badFrequency.status != 0 && badFrequency.output.contains("expected r, c or f"), "\(badFrequency.output)")
        try "red star\nred star\n".write(toFile: dir.file("dup.txt"), atomically: true, encoding: .utf8)
        let duplicate = try run(["vocab", "import", dir.file("dup.txt"), "--name", "dup"] + common)
        #expect(duplicate.status != 0 && duplicate.output.contains("twice"), "\(duplicate.output)")

        try """
            state_directory = "\(dir.file("state"))"
            [database]
            url = "\(url)"
            [model]
            path = "\(dir.file("model"))"
            [[inbox]]
            name = "shapes-inbox"
            path = "\(dir.file("inbox"))"
            vocabulary = "shapes"
            [query]
            top_n = 5
            """.write(toFile: dir.file("p.toml"), atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--config", dir.file("p.toml")],
                                       logPath: dir.file("daemon.log"))
        defer { daemon.terminate() }
        #expect(eventually(timeout: 60) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
        FileManager.default.createFile(atPath: dir.file("inbox/scene.png"), contents: TinyPNG.sample(seed: 21, width: 72, height: 56))
        let db = Database(url: url)
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(2000))")
        let rows = try db.query(Statement("voc.rows", """
            SELECT category, prompt, vocabulary, vocabulary_version, settings ->> 'top_n' AS top_n,
                   settings ->> 'template' AS template, settings ->> 'nms_iou' AS nms_iou
            FROM vocabulary_detections WHERE original_name = 'scene.png' ORDER BY score DESC
            """))
        // top_n caps what is kept; class-wise NMS (on by default at 0.5) may keep fewer.
        #expect((1...5).contains(rows.count), "\(rows.count)")
        #expect(rows.allSatisfy { $0["nms_iou"] == "0.5" })
        for row in rows {
            let category = try row.string("category"), prompt = try row.string("prompt")
            #expect(["red star", "blue_circle", "bow_(weapon)"].contains(category))
            #expect(prompt == PromptTemplateProbe.clean(category), "\(category) asked as '\(prompt)'")
            #expect(try row.string("vocabulary") == "shapes" && row.int("vocabulary_version") == 1)
            #expect(row["top_n"] == "5" && row["template"] == "clean_name")
        }
        #expect(daemon.terminate() == 0)
    }
}

extension VocabularyEndToEndTests {
    /// Issue 16: one vocabulary asked by three inboxes, one per strategy. Provenance and `vocabulary_detections` name
    /// the strategy and count its passes; after a restart the vocabulary's encoded text is read from
    /// `<state>/text-cache` instead of being encoded again, and a new version of the vocabulary is encoded anew.
    @Test func eachStrategyIsRecordedAndTheEncodedTextSurvivesARestart() throws {
        let url = try TestDatabase.fresh()
        let dir = TemporaryDirectory("strategies")
        let common = ["--database-url", url, "--state-dir", dir.file("state")]
        let model = try runPipelined(["model", "import", DetectorCommandLineTests.checkpoint, "--name", "tiny",
                                      "--output", dir.file("model"), "--no-register"] + common)
        #expect(model.status == 0, "\(model.output)")
        let names = ["red star", "blue_circle", "bow_(weapon)", "teddy_bear", "Ping-Pong_ball", "crème brûlée"]
        try names.joined(separator: "\n").write(toFile: dir.file("shapes.txt"), atomically: true, encoding: .utf8)
        #expect(try runPipelined(["vocab", "import", dir.file("shapes.txt"), "--name", "shapes"] + common).status == 0)
        let inboxes = QueryStrategyProbe.all.map { strategy in
            "[[inbox]]\nname = \"\(strategy)\"\npath = \"\(dir.file("in-" + strategy))\"\nvocabulary = \"shapes\"\nstrategy = \"\(strategy)\"\n"
        }.joined()
        try """
            state_directory = "\(dir.file("state"))"
            [database]
            url = "\(url)"
            [model]
            path = "\(dir.file("model"))"
            [query]
            shortlist_k = 2
            score_threshold = 0
            \(inboxes)
            """.write(toFile: dir.file("p.toml"), atomically: true, encoding: .utf8)
        let db = Database(url: url)
        func runDaemon(_ log: String, seed: Int, done: Int) throws -> DaemonProcess {
            let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--config", dir.file("p.toml")],
                                           logPath: dir.file(log))
            #expect(eventually(timeout: 60) { daemon.log.contains("inbox watched") }, "\(daemon.log)")
            for (i, strategy) in QueryStrategyProbe.all.enumerated() {
                FileManager.default.createFile(atPath: dir.file("in-\(strategy)/scene\(seed).png"),
                                               contents: TinyPNG.sample(seed: seed + i, width: 72, height: 56))
            }
            #expect(try eventually(timeout: 120) { try db.queueStatus().counts["done"] == done }, "\(daemon.log.suffix(3000))")
            return daemon
        }
        let first = try runDaemon("daemon1.log", seed: 40, done: 4)
        #expect(first.terminate() == 0)
        #expect(first.log.components(separatedBy: "vocabulary text cached").count - 1 == 3, "one file per kind of text: \(first.log)")
        #expect(!first.log.contains("read from the cache"))
        let cached = try FileManager.default.contentsOfDirectory(atPath: dir.file("state/text-cache"))
        #expect(cached.filter { $0.hasSuffix(".features") }.count == 3, "\(cached)")

        let rows = try db.query(Statement("strategies.rows", """
            SELECT a.inbox, p.settings ->> 'strategy' AS strategy, p.settings ->> 'detect_passes' AS passes,
                   p.settings ->> 'shortlist_k' AS k, p.settings ->> 'shortlist' AS shortlist,
                   (SELECT count(*) FROM vocabulary_detections v WHERE v.image_id = p.image_id AND v.strategy = a.inbox) AS rows,
                   (SELECT count(DISTINCT v.category) FROM vocabulary_detections v WHERE v.image_id = p.image_id) AS categories
            FROM provenance p JOIN image_arrivals a ON a.image_id = p.image_id ORDER BY a.inbox
            """))
        #expect(rows.count == 4)
        for row in rows {
            let inbox = try row.string("inbox")
            #expect(row["strategy"] == (inbox == "auto" ? "exact" : inbox))
            #expect(try row.int("rows") > 0 || inbox == "auto", "\(inbox): detections recorded under the strategy")
            switch inbox {
            case "exact", "auto": #expect(row["passes"] == "6")
            case "packed": #expect(row["passes"] == "1", "six short names fit one caption")
            default:
                #expect(row["passes"] == "3" && row["k"] == "2", "one packed caption, then the two best categories")
                #expect(row["shortlist"]?.split(separator: ",").count == 2)
                #expect(try row.int("categories") <= 2, "only shortlisted categories are stored")
            }
        }

        // A restart reads the text instead of encoding it.
        let second = try runDaemon("daemon2.log", seed: 50, done: 8)
        #expect(second.terminate() == 0)
        #expect(second.log.components(separatedBy: "vocabulary text read from the cache").count - 1 == 3, "\(second.log)")
        #expect(!second.log.contains("vocabulary text cached"))

        // A new version of the vocabulary is encoded again (the daemon reads the newest version).
        try (names + ["7-Up"]).joined(separator: "\n").write(toFile: dir.file("shapes2.txt"), atomically: true, encoding: .utf8)
        #expect(try runPipelined(["vocab", "import", dir.file("shapes2.txt"), "--name", "shapes"] + common).status == 0)
        let third = try runDaemon("daemon3.log", seed: 60, done: 12)
        #expect(third.terminate() == 0)
        #expect(third.log.components(separatedBy: "vocabulary text cached").count - 1 == 3, "\(third.log)")
        #expect(!third.log.contains("read from the cache"))
    }
}

enum QueryStrategyProbe {
    /// `auto` asks this model (not trained with packed records) exactly.
    static let all = ["auto", "exact", "packed", "shortlist"]
}

/// The prompts the test expects, written out (the official clean_name on these three names).
enum PromptTemplateProbe {
    static func clean(_ name: String) -> String {
        ["red star": "red star", "blue_circle": "blue circle", "bow_(weapon)": "bow "][name] ?? "?"
    }
}

/// `pipelined train` end to end on a tiny synthetic set (debug-build sized): a model directory that loads, a resumed
/// run, registration in PostgreSQL.
@Suite struct TrainCommandLineTests {
    /// A tiny synthetic set (3 categories, half the images caption-only) in `dir`/data; false when the pretrained
    /// weights the runs need are not set up.
    func tinyData(_ dir: TemporaryDirectory, seed: Int, train: Int) throws -> Bool {
        guard ProcessInfo.processInfo.environment["PIPELINED_LITE0_WEIGHTS"] != nil else {
            Issue.record("PIPELINED_LITE0_WEIGHTS is not set: run the suite through tools/setup.sh test")
            return false
        }
        let synth = try runPipelined(["synth", "--seed", "\(seed)", "--categories", "3", "--train", "\(train)", "--val", "2", "--test", "0",
                                      "--caption-only", "0.5", "--out", dir.file("data"), "--quiet"])
        #expect(synth.status == 0, "\(synth.output)")
        return synth.status == 0
    }

    /// A tiny run's output, checkpoints and data, as a training config's lines.
    func places(_ dir: TemporaryDirectory) -> String {
        """
        output = "\(dir.file("model"))"
        checkpoint_dir = "\(dir.file("ckpt"))"
        [data]
        train = "\(dir.file("data/lvis_v1_train.json"))"
        val = "\(dir.file("data/lvis_v1_val.json"))"
        images = "\(dir.file("data/images"))"
        grounding = "\(dir.file("data/grounding_train.json"))"
        image_size = 64
        image_max = 96
        val_images = 2
        """
    }

    @Test func trainsResumesSavesAndRegistersAModel() throws {
        let dir = TemporaryDirectory("train")
        guard try tinyData(dir, seed: 4, train: 8) else { return }
        let url = try TestDatabase.fresh()
        func config(steps: Int) throws -> String {
            let path = dir.file("train\(steps).toml")
            try """
                name = "tiny"
                \(places(dir))
                [model]
                hidden = 16
                heads = 2
                encoder_layers = 1
                decoder_layers = 2
                feed_forward = 32
                queries = 5
                contrastive_dim = 8
                [train]
                batch = 2
                caption_batch = 2
                max_steps = \(steps)
                checkpoint_every = 2
                ema_decay = 0.9
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let first = try runPipelined(["train", "--config", try config(steps: 2), "--database-url", url, "--quiet"], timeout: 600)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("registered as model"), "\(first.output)")
        #expect(first.output.contains("caption-only"), "\(first.output)")
        let second = try runPipelined(["train", "--config", try config(steps: 4), "--no-register", "--quiet"], timeout: 600)
        #expect(second.status == 0 && second.output.contains("resuming from"), "\(second.output)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("model/manifest.json")))) as? [String: Any])
        #expect((manifest["parts"] as? [[String: Any]])?.count == 2)
        #expect((manifest["resize"] as? [Int]) == [64, 96])
        #expect((manifest["metrics"] as? [String: Double])?["AP"] != nil)
        // The saved model loads and answers through `detect`.
        let image = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("data/images/val")).first)
        let detect = try runPipelined(["detect", dir.file("data/images/val/" + image), "--prompt", "a shape", "--model", dir.file("model"),
                                       "--threshold", "0"])
        #expect(detect.status == 0 && detect.output.contains("\"detections\""), "\(detect.output)")
        let db = Database(url: url)
        #expect(try db.models().contains { $0.name == "tiny" })
        // Few-shot options: a class-balanced half of the images, every negative, repeat-factor sampling (epochs of
        // varying length) over several epochs, from the model just trained.
        let fewShot = try String(contentsOfFile: try config(steps: 12), encoding: .utf8)
            .replacingOccurrences(of: "val_images = 2", with: "val_images = 2\nnegatives_per_image = -1\nsubset_fraction = 0.5\nsampling = \"repeat_factor\"\nrepeat_threshold = 0.9\npacked_per_image = 1")
            .replacingOccurrences(of: "checkpoint_dir = \"\(dir.file("ckpt"))\"", with: "checkpoint_dir = \"\(dir.file("ckpt-few"))\"")
            .replacingOccurrences(of: "output = \"\(dir.file("model"))\"", with: "output = \"\(dir.file("model-few"))\"")
            .replacingOccurrences(of: "contrastive_dim = 8", with: "contrastive_dim = 8\ninit = \"\(dir.file("model"))\"")
        try fewShot.write(toFile: dir.file("few.toml"), atomically: true, encoding: .utf8)
        let few = try runPipelined(["train", "--config", dir.file("few.toml"), "--no-register", "--quiet"], timeout: 300)
        #expect(few.status == 0 && few.output.contains("12 steps"), "\(few.output)")
        // Packed records mark the model as answering packed captions: `auto` asks it by shortlist, the other by exact.
        #expect(manifest["packedPrompts"] == nil)
        let fewManifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("model-few/manifest.json")))) as? [String: Any])
        #expect(fewManifest["packedPrompts"] as? Bool == true)
        for (model, want) in [("model", "exact"), ("model-few", "shortlist")] {
            let asked = try runPipelined(["detect", dir.file("data/images/val/" + image), "--vocabulary", dir.file("data/lvis_v1_val.json"),
                                          "--model", dir.file(model), "--threshold", "0"])
            #expect(asked.status == 0 && asked.output.contains("\"strategy\" : \"\(want)\""), "\(asked.output)")
        }
        // A missing training image stops the run before training, naming the file.
        let victim = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("data/images/train")).sorted().first)
        try FileManager.default.removeItem(atPath: dir.file("data/images/train/" + victim))
        try FileManager.default.removeItem(atPath: dir.file("ckpt"))
        let missing = try runPipelined(["train", "--config", try config(steps: 2), "--no-register", "--quiet"], timeout: 600)
        #expect(missing.status != 0 && missing.output.contains(victim), "\(missing.output)")
        // A broken config is refused with the key named.
        try "[train]\nbatchsize = 3\n".write(toFile: dir.file("bad.toml"), atomically: true, encoding: .utf8)
        let bad = try runPipelined(["train", "--config", dir.file("bad.toml")])
        #expect(bad.status != 0 && bad.output.contains("train.batchsize"), "\(bad.output)")
    }

    /// DetCLIPv2 through the same command: trained, resumed, its time-to-AP curve written at checkpoints, evaluated,
    /// and asked through `detect` (a vocabulary in one pass, free-text prompts), the family read from the manifest.
    @Test func trainsADetCLIPModelThatEvaluatesAndDetects() throws {
        let dir = TemporaryDirectory("train-detclip")
        guard try tinyData(dir, seed: 5, train: 6) else { return }
        func config(steps: Int) throws -> String {
            let path = dir.file("train\(steps).toml")
            try """
                name = "tiny-detclip"
                \(places(dir))
                [model]
                family = "detclip"
                channels = 32
                levels = 3
                stacked_convs = 1
                align_dim = 16
                concepts_per_batch = 2
                [train]
                batch = 2
                caption_batch = 2
                max_steps = \(steps)
                checkpoint_every = 2
                eval_every = 2
                ema_decay = 0.9
                clip = 10
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let first = try runPipelined(["train", "--config", try config(steps: 2), "--no-register", "--quiet"], timeout: 600)
        #expect(first.status == 0, "\(first.output)")
        let second = try runPipelined(["train", "--config", try config(steps: 4), "--no-register", "--quiet"], timeout: 600)
        #expect(second.status == 0 && second.output.contains("resuming from"), "\(second.output)")
        let curve = try String(contentsOfFile: dir.file("ckpt/curve.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(curve.count == 2 && curve.allSatisfy { $0.contains("\"AP\"") && $0.contains("training_seconds") }, "\(curve)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("model/manifest.json")))) as? [String: Any])
        #expect((manifest["detclip"] as? [String: Any])?["levels"] as? Int == 3)
        #expect((manifest["parts"] as? [[String: Any]])?.map { $0["prefix"] as? String } == ["backbone.", "text_encoder."])
        #expect((manifest["metrics"] as? [String: Double])?["AP"] != nil)
        let eval = try runPipelined(["eval", "--annotations", dir.file("data/lvis_v1_val.json"), "--images", dir.file("data/images"),
                                     "--model", dir.file("model"), "--no-store", "--quiet"])
        #expect(eval.status == 0 && eval.output.contains("1.0 passes per image"), "\(eval.output)")
        let image = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("data/images/val")).first)
        let asked = try runPipelined(["detect", dir.file("data/images/val/" + image), "--vocabulary", dir.file("data/lvis_v1_val.json"),
                                      "--model", dir.file("model"), "--threshold", "0"])
        #expect(asked.status == 0 && asked.output.contains("\"passes\" : \"1\""), "\(asked.output)")
        // Without --threshold, detect keeps boxes above the model's own threshold (its manifest's); one that is not a
        // score is refused, naming the file.
        for (threshold, works) in [(0.0123, true), (7.0, false)] {
            let copy = dir.file("calibrated-\(works)")
            try FileManager.default.copyItem(atPath: dir.file("model"), toPath: copy)
            var edited = manifest
            edited["scoreThreshold"] = threshold
            try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: copy + "/manifest.json"))
            let own = try runPipelined(["detect", dir.file("data/images/val/" + image), "--vocabulary", dir.file("data/lvis_v1_val.json"),
                                        "--model", copy])
            #expect((own.status == 0) == works, "\(own.output)")
            #expect(own.output.contains(works ? "\"score_threshold\" : \"0.0123\"" : "scoreThreshold 7.0 is not a score"), "\(own.output)")
        }
        let prompted = try runPipelined(["detect", dir.file("data/images/val/" + image), "--prompt", "a shape", "--model", dir.file("model"),
                                         "--threshold", "0"])
        #expect(prompted.status == 0 && prompted.output.contains("\"prompt\" : \"a shape\""), "\(prompted.output)")
        let raw = try runPipelined(["detect", dir.file("data/images/val/" + image), "--prompt", "a shape", "--model", dir.file("model"), "--raw"])
        #expect(raw.status != 0 && raw.output.contains("DetCLIPv2"), "\(raw.output)")
        try sideBySide(detclip: dir.file("model"), data: dir.file("data"), in: dir)
    }

    /// The daemon with the DetCLIPv2 model for its vocabulary inbox and the shipped MDETR default model beside it for
    /// captions: a plain image is asked the whole vocabulary in one pass by DetCLIPv2; a caption sidecar is answered by
    /// MDETR, and provenance names each.
    func sideBySide(detclip: String, data: String, in dir: TemporaryDirectory) throws {
        let mdetr = BuiltProducts.packageRoot + "/Sources/pipelined/DefaultModel/grounding"
        guard FileManager.default.fileExists(atPath: mdetr + "/manifest.json") else { return }
        let state = dir.file("s"), inbox = dir.file("in")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try """
            state_directory = "\(state)"
            [model]
            path = "\(detclip)"
            grounding_path = "\(mdetr)"
            [[inbox]]
            name = "shapes"
            path = "\(inbox)"
            vocabulary = "tiny"
            """.write(toFile: dir.file("c.toml"), atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--config", dir.file("c.toml")],
                                       logPath: dir.file("daemon.log"), environment: ["PIPELINED_DEFAULT_MODEL": ""])
        defer { daemon.terminate() }
        #expect(eventually(timeout: 120) { daemon.log.contains("grounding model loaded") && daemon.log.contains("inbox watched") }, "\(daemon.log)")
        let imported = try runPipelined(["vocab", "import", data + "/lvis_v1_val.json", "--name", "tiny", "--config", dir.file("c.toml")])
        #expect(imported.status == 0, "\(imported.output)")
        let images = try FileManager.default.contentsOfDirectory(atPath: data + "/images/val").sorted()
        try #"{"caption": "a shape on the left", "phrases": [[0, 7]]}"#.write(toFile: inbox + "/captioned.png.json", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: data + "/images/val/" + images[0], toPath: inbox + "/captioned.png")
        try FileManager.default.copyItem(atPath: data + "/images/val/" + images[1], toPath: inbox + "/plain.png")
        let db = Database(url: "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined")
        #expect(try eventually(timeout: 300) { try db.queueStatus().counts["done"] == 2 }, "\(daemon.log.suffix(3000))")
        let rows = try db.query(Statement("side.provenance", """
            SELECT i.original_name, p.model_version, p.settings ->> 'caption_model' AS caption_model,
                   p.settings ->> 'vocabulary_passes' AS passes, p.settings ->> 'template' AS template
            FROM provenance p JOIN images i ON i.id = p.image_id ORDER BY i.original_name
            """))
        let byName = Dictionary(uniqueKeysWithValues: try rows.map { (try $0.string("original_name"), $0) })
        let mdetrManifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: mdetr + "/manifest.json"))) as? [String: Any])
        #expect(byName["captioned.png"]?["caption_model"] == "\(mdetrManifest["name"] ?? "?")@\(mdetrManifest["version"] ?? "?")")
        #expect(byName["plain.png"]?["passes"] == "1" && byName["plain.png"]?["template"] == "name_and_definition", "\(rows)")
        #expect(byName["plain.png"]?["caption_model"] == nil)
        #expect(daemon.terminate() == 0)
    }
}
