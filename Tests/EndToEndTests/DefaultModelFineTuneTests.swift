import Foundation
import Store
import TestSupport
import Testing

/// Issue 6's gate against a parent that measurably works: the shipped default model. A fine-tuning run made worse on
/// purpose (a learning rate of 1.0 wrecks the transformer in four steps) must be rejected by the default gate — AP and
/// APr not worse than the parent's on the same held-out labels — kept with its metrics, and the parent must stay
/// active and keep processing images. Fixture: `Fixtures/default-model-finetune`, the first 8 test-split images of
/// the synthetic benchmark and their labels (`tools/default_model_fixture.py`).
@Suite struct DefaultModelFineTuneTests {
    static let fixtureDirectory = BuiltProducts.packageRoot + "/Tests/EndToEndTests/Fixtures/default-model-finetune"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: DefaultModelTests.modelDirectory + "/manifest.json"), "no default model committed"))
    func aCandidateMadeWorseOnPurposeIsRejectedByTheDefaultGate() throws {
        let dir = TemporaryDirectory("default-finetune")
        let url = try TestDatabase.fresh()
        let db = Database(url: url)
        let state = dir.file("state"), inbox = dir.file("inbox")
        // Detection asks two categories only (a debug build is slow); the labels and the gate use the model's own
        // 300-category vocabulary, which the daemon imports as `default-model`.
        try "large blue crescent\nsmall orange arrow\n".write(toFile: dir.file("few.txt"), atomically: true, encoding: .utf8)
        let vocab = try runPipelined(["vocab", "import", dir.file("few.txt"), "--name", "few", "--database-url", url])
        #expect(vocab.status == 0, "\(vocab.output)")
        try """
            state_directory = "\(state)"
            [database]
            url = "\(url)"
            [model]
            check_interval_seconds = 0.5
            [[inbox]]
            name = "in"
            path = "\(inbox)"
            vocabulary = "few"
            [labels]
            heldout_fraction = 0.5
            [finetune]
            check_interval_seconds = 0.5
            min_new_images = 1
            steps = 4
            batch = 2
            checkpoint_every = 2
            lr = 1.0
            eval_images = 8
            """.write(toFile: dir.file("pipelined.toml"), atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: ["run", "--config", dir.file("pipelined.toml")],
                                       logPath: dir.file("log"), environment: ["PIPELINED_DEFAULT_MODEL": "", "PIPELINED_MODEL": ""])
        defer { daemon.terminate() }
        #expect(eventually(timeout: 120) { daemon.log.contains("daemon ready") }, "\(daemon.log)")

        let files = try FileManager.default.contentsOfDirectory(atPath: Self.fixtureDirectory).filter { $0.hasSuffix(".jpg") }.sorted()
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        for f in files { try FileManager.default.copyItem(atPath: Self.fixtureDirectory + "/" + f, toPath: inbox + "/" + f) }
        #expect(try eventually(timeout: 600) { try db.queueStatus().counts["done"] == files.count }, "\(daemon.log.suffix(3000))")
        try FileManager.default.createDirectory(atPath: state + "/labels", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixtureDirectory + "/labels.json", toPath: state + "/labels/labels.json.tmp")
        rename(state + "/labels/labels.json.tmp", state + "/labels/labels.json")   // published whole

        #expect(try eventually(timeout: 1200) { (try db.latestFineTuneRunRow()?["status"] ?? "running") != "running" }, "\(daemon.log.suffix(3000))")
        let run = try #require(try db.latestFineTuneRunRow())
        #expect(run["status"] == "rejected" && run["reason"]?.contains("(worse)") == true, "\(run)")
        // The parent measurably works on the held-out labels, and the wrecked candidate is below it.
        let metrics = try #require(try JSONSerialization.jsonObject(with: Data((run["metrics"] ?? "{}").utf8)) as? [String: [String: Double]])
        let parentAP = metrics["parent"]?["AP"] ?? -1, candidateAP = metrics["candidate"]?["AP"] ?? -1
        #expect(parentAP > 0 && candidateAP < parentAP, "\(metrics)")

        let models = try db.models()
        #expect(models.first { String($0.id) == run["candidate_model_id"] }?.status == "rejected", "\(models.map { ($0.label, $0.status) })")
        let active = try #require(models.first { $0.status == "active" })
        #expect(active.parentID == nil && models.filter { $0.status == "active" }.count == 1, "\(models.map { ($0.label, $0.status) })")

        // The parent keeps working: the next image is processed by it.
        let next = try JSONDecoder().decode(DefaultModelTests.Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: DefaultModelTests.fixtureDirectory + "/image.json")))
        try FileManager.default.copyItem(atPath: DefaultModelTests.fixtureDirectory + "/" + next.file, toPath: inbox + "/after.jpg")
        #expect(try eventually(timeout: 300) { try db.queueStatus().counts["done"] == files.count + 1 }, "\(daemon.log.suffix(2000))")
        let producer = try db.query(Statement("dft.after", """
            SELECT p.model_version FROM provenance p JOIN images i ON i.id = p.image_id WHERE i.original_name = 'after.jpg'
            """)).first?["model_version"]
        #expect(producer == active.label, "\(producer ?? "nil") vs \(active.label)")
        #expect(daemon.terminate() == 0)
    }
}
