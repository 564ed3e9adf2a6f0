import Foundation
@testable import Store
import TestSupport
import Testing

/// Issue 5's promise to a new user: the daemon on its embedded defaults, with no model configured, uses the default
/// model that ships in `Sources/pipelined/DefaultModel` (DetCLIPv2 on Lite0 + MiniLM from the pip packages the set-up
/// installs) and its vocabulary, and a synthetic image dropped into the inbox gets correct detections in PostgreSQL —
/// the whole vocabulary in one pass, caption sidecars answered by the MDETR model beside it (`grounding/`).
@Suite struct DefaultModelTests {
    /// One image of the synthetic benchmark's test split (never trained on) and its labels, written by
    /// `tools/make_default_model.sh` next to the model it shipped.
    struct Fixture: Decodable {
        struct Object: Decodable { var category: String; var bbox: [Double] }   // bbox: x, y, w, h in pixels
        var file: String
        var objects: [Object]
    }

    static let fixtureDirectory = BuiltProducts.packageRoot + "/Tests/EndToEndTests/Fixtures/default-model"
    static let modelDirectory = BuiltProducts.packageRoot + "/Sources/pipelined/DefaultModel"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelDirectory + "/manifest.json"), "no default model committed"))
    func aSyntheticImageDroppedIntoTheInboxGetsCorrectDetections() throws {
        let fixture = try Self.fixture()
        let manifest = try Self.manifest()
        let version = "\(manifest["name"] ?? "?")@\(manifest["version"] ?? "?")"
        let grounding = try Self.manifest(Self.modelDirectory + "/grounding")

        // The README's run command in a private state directory: embedded PostgreSQL, no model configured.
        let dir = TemporaryDirectory("default-model")
        let state = dir.file("s")
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"),
                                       arguments: ["run", "--state-dir", state, "--log-level", "info"],
                                       logPath: dir.file("log"), environment: ["PIPELINED_DEFAULT_MODEL": ""])
        defer { daemon.terminate() }
        #expect(eventually(timeout: 120) { daemon.log.contains("daemon ready") }, "\(daemon.log)")
        #expect(!daemon.log.contains("not processed"), "\(daemon.log)")
        #expect(daemon.log.contains("grounding model loaded"), "\(daemon.log)")
        // The model's own threshold, from its manifest (none is configured).
        let threshold = try #require(manifest["scoreThreshold"] as? Double)
        #expect(daemon.log.contains("score_threshold=\"\(String(format: "%.4f", threshold)) (the model's own)\""), "\(daemon.log)")
        try FileManager.default.copyItem(atPath: Self.fixtureDirectory + "/" + fixture.file, toPath: state + "/inbox/" + fixture.file)
        // An image with a caption: answered by the grounding model, and provenance says so.
        try #"{"caption": "a large striped blue ring", "phrases": [[2, 25]]}"#.write(toFile: state + "/inbox/captioned.png.json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: state + "/inbox/captioned.png", contents: TinyPNG.sample(seed: 3, width: 96, height: 64))

        let db = Database(url: "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined")
        #expect(try eventually(timeout: 600) { try db.queueStatus().counts["done"] == 2 }, "\(daemon.log.suffix(3000))")
        let provenance = try db.query(Statement("default.provenance", """
            SELECT i.original_name, p.model_version, p.settings ->> 'caption_model' AS caption_model,
                   p.settings ->> 'vocabulary_passes' AS passes
            FROM provenance p JOIN images i ON i.id = p.image_id ORDER BY i.original_name
            """))
        let byName = Dictionary(uniqueKeysWithValues: try provenance.map { (try $0.string("original_name"), $0) })
        #expect(byName[fixture.file]?["passes"] == "1" && byName[fixture.file]?["caption_model"] == nil, "\(provenance)")
        #expect(byName["captioned.png"]?["caption_model"] == "\(grounding["name"] ?? "?")@\(grounding["version"] ?? "?")", "\(provenance)")
        // Every box kept is above the model's own threshold.
        let lowest = try db.query(Statement("default.lowest", "SELECT min(score) AS s FROM vocabulary_detections")).first?.double("s")
        #expect((lowest ?? 0) > threshold, "lowest stored score \(String(describing: lowest)), threshold \(threshold)")
        let rows = try db.query(Statement("default.rows", """
            SELECT category, score, x0, y0, x1, y1, vocabulary, model_version
            FROM vocabulary_detections WHERE original_name = '\(fixture.file)' ORDER BY score DESC
            """))
        #expect(!rows.isEmpty)
        for row in rows.prefix(3) {
            #expect(try row.string("vocabulary") == "default-model" && row.string("model_version") == version)
        }
        // Correct: every labelled object is found — a box of its category overlapping it with IoU ≥ 0.5 — among the
        // image's top detections (the model's ranking over its whole vocabulary, as a user would read it).
        let top = try rows.prefix(Self.topK).map { row in
            (category: try row.string("category"), box: [try row.double("x0"), try row.double("y0"), try row.double("x1"), try row.double("y1")])
        }
        for object in fixture.objects {
            let truth = [object.bbox[0], object.bbox[1], object.bbox[0] + object.bbox[2], object.bbox[1] + object.bbox[3]]
            let best = top.filter { $0.category == object.category }.map { Self.iou($0.box, truth) }.max() ?? 0
            #expect(best >= 0.5, "\(object.category) at \(truth): best IoU \(best) in the top \(Self.topK): \(top)")
        }
        #expect(daemon.terminate() == 0)
    }

    /// `[model] prompts` is honoured with the default model too (it used to be logged and then ignored for the
    /// model's vocabulary), and the log says what each inbox will be asked. One `score_threshold` decides what the
    /// daemon stores and what `detect` prints (they used to keep > 0.7 and everything): the same boxes and scores.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelDirectory + "/manifest.json"), "no default model committed"))
    func configuredPromptsAreAskedInsteadOfTheDefaultVocabulary() throws {
        let fixture = try Self.fixture()
        let dir = TemporaryDirectory("default-prompts")
        let state = dir.file("s")
        let daemon = try Self.daemon(in: dir, config: """
            [model]
            prompts = ["a large striped blue ring"]
            [query]
            score_threshold = 0.05
            """)
        defer { daemon.terminate() }
        #expect(eventually(timeout: 120) { daemon.log.contains("inbox questions") }, "\(daemon.log)")
        #expect(daemon.log.contains(#"asks="prompts [\"a large striped blue ring\"]""#), "\(daemon.log)")
        #expect(!daemon.log.contains("keeps fewer boxes"), "0.05 is below the model's own: \(daemon.log)")
        try FileManager.default.copyItem(atPath: Self.fixtureDirectory + "/" + fixture.file, toPath: state + "/inbox/" + fixture.file)
        let db = Database(url: "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined")
        #expect(try eventually(timeout: 300) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(3000))")
        // Asked the prompt (its detections, if any score above the threshold, carry it), not the vocabulary.
        let prompts = try db.query(Statement("default.prompts", "SELECT DISTINCT prompt FROM detections")).map { try $0.string("prompt") }
        #expect(prompts == ["a large striped blue ring"], "\(prompts)")
        #expect(try db.query(Statement("default.vocab", "SELECT 1 FROM vocabulary_detections")).isEmpty)
        let stored = try db.query(Statement("default.stored", "SELECT score FROM detections ORDER BY score DESC")).map { try $0.double("score") }
        let own = try #require(try Self.manifest()["scoreThreshold"] as? Double)
        let detect = try runPipelined(["detect", Self.fixtureDirectory + "/" + fixture.file, "--prompt", "a large striped blue ring",
                                       "--config", dir.file("c.toml")])
        let printed = try #require(try JSONSerialization.jsonObject(with: Data(detect.output.utf8)) as? [String: Any], "\(detect.output)")
        let scores = ((printed["detections"] as? [[String: Any]]) ?? []).compactMap { $0["score"] as? Double }.sorted(by: >)
        #expect(stored.count == scores.count && zip(stored, scores).allSatisfy { abs($0 - $1) < 1e-4 }, "daemon \(stored), detect \(scores)")
        #expect(stored.contains { $0 < own } && stored.allSatisfy { $0 > 0.05 }, "the configured threshold, not the model's own \(own): \(stored)")
        #expect(daemon.terminate() == 0)
        // The default model is listed with a header and the scores its manifest records.
        let list = try runPipelined(["model", "list", "--state-dir", state])
        let ap = try #require((try Self.manifest()["metrics"] as? [String: Double])?["AP"])
        #expect(list.output.contains("id\tmodel\tstatus") && list.output.contains("\tactive\t") && list.output.contains("AP \(String(format: "%.4f", ap))"),
                "\(list.output)")
    }

    /// The questions follow the model: an inbox told to ask nothing in particular asks the running model's own
    /// vocabulary — the default model's categories — and, once a model without one is promoted (the official MDETR
    /// checkpoints have none), the default prompts; rolled back, the vocabulary again. (It used to keep asking the
    /// default model's 300 shape names whatever model ran, and the log never said otherwise.)
    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelDirectory + "/manifest.json"), "no default model committed"))
    func theQuestionsFollowTheActiveModel() throws {
        let fixture = try Self.fixture()
        let dir = TemporaryDirectory("follow")
        let state = dir.file("s")
        // A threshold above the default model's own (an older config's 0.7, say) is named at start.
        let daemon = try Self.daemon(in: dir, config: """
            [model]
            check_interval_seconds = 0.5
            [query]
            score_threshold = 0.9
            """)
        defer { daemon.terminate() }
        #expect(eventually(timeout: 120) { daemon.log.contains("daemon ready") }, "\(daemon.log)")
        #expect(daemon.log.contains("asks=\"vocabulary default-model, the active model's own"), "\(daemon.log)")
        #expect(daemon.log.contains("keeps fewer boxes than this model is best read at"), "\(daemon.log)")
        let db = Database(url: "host=\(state)/postgres/run port=5432 user=pipelined dbname=pipelined")
        func asked() throws -> [String] {
            try db.query(Statement("follow.asked", """
                SELECT coalesce(settings ->> 'vocabulary', 'prompts ' || (settings ->> 'prompts')) AS asked FROM provenance ORDER BY id
                """)).map { try $0.string("asked") }
        }
        try FileManager.default.copyItem(atPath: Self.fixtureDirectory + "/" + fixture.file, toPath: state + "/inbox/a.jpg")
        #expect(try eventually(timeout: 300) { try db.queueStatus().counts["done"] == 1 }, "\(daemon.log.suffix(3000))")

        // A model without a vocabulary of its own, imported and promoted while the daemon runs.
        let imported = try runPipelined(["model", "import", DetectorCommandLineTests.checkpoint, "--name", "tiny", "--output", dir.file("tiny"),
                                         "--config", dir.file("c.toml")])
        #expect(imported.status == 0, "\(imported.output)")
        let tiny = try #require(try db.models().first { $0.name == "tiny" })
        #expect(try runPipelined(["model", "promote", tiny.label, "--config", dir.file("c.toml")]).status == 0)
        #expect(eventually(timeout: 60) { daemon.log.contains("own_vocabulary=none") }, "\(daemon.log.suffix(2000))")
        FileManager.default.createFile(atPath: state + "/inbox/b.png", contents: TinyPNG.sample(seed: 4, width: 80, height: 60))
        #expect(try eventually(timeout: 120) { try db.queueStatus().counts["done"] == 2 }, "\(daemon.log.suffix(3000))")

        #expect(try runPipelined(["model", "rollback", "--config", dir.file("c.toml")]).status == 0)
        #expect(eventually(timeout: 60) { daemon.log.contains("own_vocabulary=default-model") }, "\(daemon.log.suffix(2000))")
        FileManager.default.createFile(atPath: state + "/inbox/c.png", contents: TinyPNG.sample(seed: 5, width: 80, height: 60))
        #expect(try eventually(timeout: 300) { try db.queueStatus().counts["done"] == 3 }, "\(daemon.log.suffix(3000))")
        let questions = try asked()
        #expect(questions == ["default-model@1", "prompts an object", "default-model@1"], "\(questions)")
        #expect(daemon.terminate() == 0)
    }

    /// After the set-up, from a bare environment (`env -i PATH=…`, as a service or a new shell has it): `detect`
    /// finds the default model and its pretrained parts by itself, and so does the daemon. (It used to need two
    /// variables "tools/setup.sh exports", which no shell had.)
    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelDirectory + "/manifest.json"), "no default model committed"))
    func fromABareEnvironmentTheDefaultModelIsFound() throws {
        let fixture = try Self.fixture()
        let bare = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME": ProcessInfo.processInfo.environment["HOME"] ?? "/root"]
        let detect = try runPipelined(["detect", Self.fixtureDirectory + "/" + fixture.file, "--prompt", "a cat"], bareEnvironment: bare)
        #expect(detect.status == 0 && detect.output.contains("\"name\" : \"default\""), "\(detect.output)")

        let dir = TemporaryDirectory("bare-run")
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--state-dir", dir.file("s")],
                                       logPath: dir.file("log"), environment: bare, bareEnvironment: true)
        defer { daemon.terminate() }
        #expect(eventually(timeout: 120) { daemon.log.contains("daemon ready") }, "\(daemon.log)")
        #expect(daemon.log.contains("model loaded model=default@"), "\(daemon.log)")
        #expect(daemon.terminate() == 0)
    }

    /// `eval --calibrate` keeps the F1-best threshold of the images it was given in the model's manifest (what the
    /// daemon and `detect` then use), and refuses what has no manifest to keep it in.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelDirectory + "/manifest.json"), "no default model committed"))
    func calibrationKeepsTheThresholdInTheManifest() throws {
        let dir = TemporaryDirectory("calibrate")
        let model = dir.file("model")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for file in ["manifest.json", "model.safetensors", "vocab.txt"] {
            try FileManager.default.copyItem(atPath: Self.modelDirectory + "/" + file, toPath: model + "/" + file)
        }
        // The fixture image as an LVIS file: its labelled objects, the default model's categories.
        let fixture = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixtureDirectory + "/image.json"))) as? [String: Any])
        let vocabulary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.modelDirectory + "/vocabulary.json"))) as? [String: Any])
        let categories = try #require(vocabulary["categories"] as? [[String: Any]])
        let ids = Dictionary(uniqueKeysWithValues: categories.map { ($0["name"] as! String, $0["id"] as! Int) })
        let objects = try #require(fixture["all_objects"] as? [[String: Any]])
        let annotations = try objects.enumerated().map { i, o -> [String: Any] in
            let box = try #require(o["bbox"] as? [Double])
            return ["id": i + 1, "image_id": 1, "category_id": try #require(ids[o["category"] as! String]), "bbox": box, "area": box[2] * box[3]]
        }
        let lvis: [String: Any] = ["images": [["id": 1, "file_name": fixture["file"]!, "neg_category_ids": [Int](), "not_exhaustive_category_ids": [Int]()]],
                                   "categories": categories, "annotations": annotations]
        try JSONSerialization.data(withJSONObject: lvis).write(to: URL(fileURLWithPath: dir.file("one.json")))

        let calibrated = try runPipelined(["eval", "--annotations", dir.file("one.json"), "--images", Self.fixtureDirectory, "--model", model,
                                           "--calibrate", "--no-store", "--quiet"])
        #expect(calibrated.status == 0 && calibrated.output.contains("best F1") && calibrated.output.contains("kept score threshold"),
                "\(calibrated.output)")
        let kept = try #require(try Self.manifest(model)["scoreThreshold"] as? Double)
        #expect(kept > 0 && kept < 1 && calibrated.output.contains(String(format: "%.4f", kept)), "\(kept): \(calibrated.output)")
        // The rest of the manifest is unchanged.
        var before = try Self.manifest(), after = try Self.manifest(model)
        (before["scoreThreshold"], after["scoreThreshold"]) = (nil, nil)
        #expect(NSDictionary(dictionary: before).isEqual(to: after))

        let checkpoint = try runPipelined(["eval", "--annotations", dir.file("one.json"), "--images", Self.fixtureDirectory,
                                           "--model", DetectorCommandLineTests.checkpoint, "--calibrate", "--no-store", "--quiet"])
        #expect(checkpoint.status != 0 && checkpoint.output.contains("not a model directory"), "\(checkpoint.output)")
    }

    static let topK = 10

    static func manifest(_ directory: String = modelDirectory) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))) as? [String: Any])
    }

    static func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: fixtureDirectory + "/image.json")))
    }

    /// `pipelined run` with a config file whose state directory is `<dir>/s`, and the rest of the config given.
    static func daemon(in dir: TemporaryDirectory, config: String) throws -> DaemonProcess {
        try "state_directory = \"\(dir.file("s"))\"\n\(config)".write(toFile: dir.file("c.toml"), atomically: true, encoding: .utf8)
        return try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--config", dir.file("c.toml")],
                                 logPath: dir.file("log"), environment: ["PIPELINED_DEFAULT_MODEL": ""])
    }

    static func iou(_ a: [Double], _ b: [Double]) -> Double {
        let w = max(0, min(a[2], b[2]) - max(a[0], b[0])), h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return union > 0 ? w * h / union : 0
    }
}
