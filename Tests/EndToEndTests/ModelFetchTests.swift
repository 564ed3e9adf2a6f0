import Crypto
import Foundation
import Store
import TestSupport
import Testing

/// `pipelined model fetch` against a file server on loopback serving a real (tiny) MDETR checkpoint made by
/// PyTorch with the official key layout, with its tokenizer and text-encoder config.
@Suite struct ModelFetchTests {
    static let fixture = BuiltProducts.packageRoot + "/Tests/DetectorTests/Fixtures/mdetr_end_to_end"
    static let checkpoint = try! Data(contentsOf: URL(fileURLWithPath: fixture + "/checkpoint.pth"))
    static var checkpointSHA256: String { SHA256.hash(data: checkpoint).map { String(format: "%02x", $0) }.joined() }

    /// A server with the fixture's files, and a catalog naming them as the model `tiny`.
    struct Setup {
        let server: LoopbackHTTPServer
        let dir: TemporaryDirectory
        let common: [String]
        let database: Database
        var catalog: String { dir.file("catalog.json") }
        var state: String { dir.file("state") }

        init(_ name: String, sha256: String? = nil, base: String? = nil) throws {
            server = try LoopbackHTTPServer()
            dir = TemporaryDirectory(name)
            let url = try TestDatabase.fresh()
            database = Database(url: url)
            common = ["--catalog", dir.file("catalog.json"), "--database-url", url, "--state-dir", dir.file("state")]
            server.serve("/files/tiny.pth", ModelFetchTests.checkpoint)
            for file in ["vocab.json", "merges.txt", "config.json"] {
                server.serve("/files/" + file, try Data(contentsOf: URL(fileURLWithPath: ModelFetchTests.fixture + "/" + file)))
            }
            try writeCatalog(sha256: sha256, base: base ?? server.baseURL)
        }

        func writeCatalog(sha256: String?, base: String, checkpointURLs: [String]? = nil) throws {
            func file(_ name: String) -> [String: Any] { ["name": name, "urls": ["\(base)/files/\(name)"]] }
            var checkpoint: [String: Any] = ["name": "tiny.pth", "urls": checkpointURLs ?? ["\(base)/files/tiny.pth"]]
            if let sha256 { checkpoint["sha256"] = sha256 }
            let catalog: [String: Any] = ["models": [[
                "name": "tiny", "description": "a tiny MDETR made by tools/make_fixtures", "checkpoint": checkpoint,
                "companions": [file("vocab.json"), file("merges.txt"), file("config.json")],
                "backbone": "resnet50", "textEncoder": "tiny-roberta-bpe",
            ] as [String: Any]]]
            try JSONSerialization.data(withJSONObject: catalog).write(to: URL(fileURLWithPath: self.catalog))
        }

        /// Loopback is never proxied, whatever proxy the machine running the tests is configured with.
        static let direct = ["no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"]

        func fetch(_ extra: [String] = [], environment: [String: String] = direct) throws -> (status: Int32, output: String) {
            try runPipelined(["model", "fetch", "tiny"] + extra + common, environment: environment)
        }

        var manifests: [[String: Any]] {
            let models = state + "/models"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: models)) ?? []
            return names.filter { $0.hasPrefix("tiny-") }.compactMap {
                try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: models + "/" + $0 + "/manifest.json"))) as? [String: Any]
            }
        }
    }

    @Test func fetchDownloadsChecksImportsRegistersAndActivates() throws {
        let setup = try Setup("fetch", sha256: Self.checkpointSHA256)
        // The first mirror does not have the file: the second one is used.
        try setup.writeCatalog(sha256: Self.checkpointSHA256, base: setup.server.baseURL,
                               checkpointURLs: [setup.server.baseURL + "/gone/tiny.pth", setup.server.baseURL + "/files/tiny.pth"])
        let fetched = try setup.fetch(["--activate"])
        #expect(fetched.status == 0, "\(fetched.output)")
        #expect(fetched.output.contains("HTTP 404; trying the next mirror"), "\(fetched.output)")
        #expect(fetched.output.contains("is now active"), "\(fetched.output)")
        let manifest = try #require(setup.manifests.first, "\(fetched.output)")
        #expect(manifest["sourceURL"] as? String == setup.server.baseURL + "/files/tiny.pth")
        #expect((manifest["sourceBytes"] as? NSNumber)?.intValue == Self.checkpoint.count)
        #expect(manifest["sourceSHA256"] as? String == Self.checkpointSHA256)
        #expect((manifest["tokenizerFiles"] as? [String])?.sorted() == ["merges.txt", "vocab.json"])
        let active = try #require(try setup.database.activeModel())
        #expect(active.name == "tiny" && active.path.map { FileManager.default.fileExists(atPath: $0 + "/model.safetensors") } == true)
        // The checkpoint is not kept once imported; a second fetch downloads nothing.
        #expect(!FileManager.default.fileExists(atPath: setup.state + "/downloads/tiny/tiny.pth"))
        let requests = setup.server.requests.count
        let again = try setup.fetch()
        #expect(again.status == 0 && again.output.contains("is already fetched"), "\(again.output)")
        #expect(setup.server.requests.count == requests)
        // The imported model runs: detect with it.
        let image = TemporaryDirectory("fetch-img")
        FileManager.default.createFile(atPath: image.file("a.png"), contents: TinyPNG.sample(seed: 3, width: 80, height: 60))
        let detect = try runPipelined(["detect", image.file("a.png"), "--prompt", "a small striped red star", "--model", active.path!,
                                       "--threshold", "0"])
        #expect(detect.status == 0 && detect.output.contains("\"detections\""), "\(detect.output)")
    }

    @Test func anInterruptedDownloadResumesWhereItStopped() throws {
        // Within one run: the companions arrive whole, then the checkpoint's connection drops twice; each new attempt
        // asks only for the rest.
        let setup = try Setup("resume", sha256: Self.checkpointSHA256)
        setup.server.dropConnections(after: [Int.max, Int.max, Int.max, 150_000, 100_000])
        let fetched = try setup.fetch()
        #expect(fetched.status == 0, "\(fetched.output)")
        let ranges = setup.server.requests.filter { $0.contains("/files/tiny.pth") }.compactMap { head in
            head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("range:") }
        }
        #expect(ranges == ["Range: bytes=150000-", "Range: bytes=250000-"], "\(setup.server.requests)")
        #expect(setup.manifests.first?["sourceSHA256"] as? String == Self.checkpointSHA256)

        // Across runs: a run that may not retry stops with the bytes it has and says how to go on; the next resumes.
        let later = try Setup("resume-later", sha256: Self.checkpointSHA256)
        later.server.dropConnections(after: [Int.max, Int.max, Int.max, 200_000])
        let stopped = try later.fetch(["--retries", "0"])
        #expect(stopped.status != 0 && stopped.output.contains("run the same command again to resume"), "\(stopped.output)")
        let part = later.state + "/downloads/tiny/tiny.pth.part"
        #expect((try? FileManager.default.attributesOfItem(atPath: part)[.size] as? NSNumber)?.intValue == 200_000)
        #expect(try later.database.models().isEmpty)
        let resumed = try later.fetch(["--retries", "0"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let last = try #require(later.server.requests.last)
        #expect(last.contains("Range: bytes=200000-") && last.contains("If-Range: \"v1\""), "\(last)")
        #expect(later.manifests.first?["sourceSHA256"] as? String == Self.checkpointSHA256)
    }

    @Test func aFileThatChangedOnTheServerIsNotSplicedOntoTheOldPart() throws {
        let setup = try Setup("changed")
        setup.server.dropConnections(after: [Int.max, Int.max, Int.max, 200_000])
        #expect(try setup.fetch(["--retries", "0"]).status != 0)
        // A new version of the file, under a new ETag: the resumed request gets all of it, from byte 0.
        setup.server.setETag("\"v2\"")
        let resumed = try setup.fetch(["--retries", "0"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(setup.manifests.first?["sourceSHA256"] as? String == Self.checkpointSHA256)
        #expect((setup.manifests.first?["sourceBytes"] as? NSNumber)?.intValue == Self.checkpoint.count)
    }

    /// Without a validator (no ETag, no Last-Modified) a changed file could not be told: the part is not continued
    /// but fetched again whole. (It used to be resumed with a bare Range.)
    @Test func withoutAValidatorThePartIsFetchedAgainWhole() throws {
        let setup = try Setup("no-validator", sha256: Self.checkpointSHA256)
        setup.server.setETag(nil)
        setup.server.dropConnections(after: [Int.max, Int.max, Int.max, 200_000])
        #expect(try setup.fetch(["--retries", "0"]).status != 0)
        let resumed = try setup.fetch(["--retries", "0"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let last = try #require(setup.server.requests.last)
        #expect(last.contains("/files/tiny.pth") && !last.lowercased().contains("range:"), "\(last)")
    }

    /// A part longer than the file now on the server (same version tag, so the server answers the range with 416):
    /// the download starts again from zero at once. (It used to stop with "HTTP 416".)
    @Test func aRangeTheServerCannotSatisfyStartsAgainFromZero() throws {
        let setup = try Setup("range-416", sha256: Self.checkpointSHA256)
        let longer = try Data(contentsOf: URL(fileURLWithPath: BuiltProducts.packageRoot + "/Tests/DetectorTests/Fixtures/mdetr_resnet_roberta/checkpoint.pth"))
        #expect(longer.count > Self.checkpoint.count + 100_000)
        setup.server.serve("/files/tiny.pth", longer)
        setup.server.dropConnections(after: [Int.max, Int.max, Int.max, Self.checkpoint.count + 50_000])
        #expect(try setup.fetch(["--retries", "0"]).status != 0)
        setup.server.serve("/files/tiny.pth", Self.checkpoint)
        let again = try setup.fetch(["--retries", "0"])
        #expect(again.status == 0, "\(again.output)")
        #expect(setup.manifests.first?["sourceSHA256"] as? String == Self.checkpointSHA256)
    }

    /// A local copy (`file://`, e.g. `--mirror file:///srv/models`) is copied again rather than resumed: a local file
    /// has no validator to tell a changed copy by, and copying is cheap.
    @Test func aLocalCopyIsNeverResumed() throws {
        let setup = try Setup("file-url")
        try Self.checkpoint.write(to: URL(fileURLWithPath: setup.dir.file("tiny.pth")))
        try setup.writeCatalog(sha256: Self.checkpointSHA256, base: setup.server.baseURL, checkpointURLs: ["file://" + setup.dir.file("tiny.pth")])
        // What an interrupted earlier run would have left.
        let downloads = setup.state + "/downloads/tiny"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
        try Self.checkpoint.prefix(100_000).write(to: URL(fileURLWithPath: downloads + "/tiny.pth.part"))
        try Data(#"{"url":"file://\#(setup.dir.file("tiny.pth"))","validator":"x","total":\#(Self.checkpoint.count)}"#.utf8)
            .write(to: URL(fileURLWithPath: downloads + "/tiny.pth.part.json"))
        let fetched = try setup.fetch(["--retries", "0"])
        #expect(fetched.status == 0, "\(fetched.output)")
        #expect(setup.manifests.first?["sourceSHA256"] as? String == Self.checkpointSHA256)
    }

    /// A registration that fails (the database is down) does not cost the download: the checkpoint stays, and the
    /// next run imports it without asking the server again.
    @Test func aFailedRegistrationKeepsTheDownload() throws {
        let setup = try Setup("register-fails", sha256: Self.checkpointSHA256)
        var down = setup.common
        down[3] = "host=/nonexistent port=5432 user=pipelined dbname=pipelined connect_timeout=2"
        let failed = try runPipelined(["model", "fetch", "tiny"] + down, environment: Setup.direct)
        #expect(failed.status != 0, "\(failed.output)")
        #expect(FileManager.default.fileExists(atPath: setup.state + "/downloads/tiny/tiny.pth"), "\(failed.output)")
        let asked = setup.server.requests.filter { $0.contains("/files/tiny.pth") }.count
        let again = try setup.fetch()
        #expect(again.status == 0 && again.output.contains("already downloaded"), "\(again.output)")
        #expect(setup.server.requests.filter { $0.contains("/files/tiny.pth") }.count == asked)
    }

    /// "Already fetched" means the fetched version itself, not a fine-tuned descendant that kept its name (one the
    /// gate may have rejected): `--activate` makes the fetched one active.
    @Test func alreadyFetchedActivatesTheFetchedVersionNotADescendant() throws {
        let setup = try Setup("descendant", sha256: Self.checkpointSHA256)
        #expect(try setup.fetch().status == 0)
        let fetched = try #require(try setup.database.models().first { $0.name == "tiny" })
        let child = try setup.database.registerModel(NewModel(name: "tiny", version: "tuned1", weightsSHA256: String(repeating: "0", count: 64),
                                                             configJSON: "{}", path: fetched.path, parentID: fetched.id))
        let again = try setup.fetch(["--activate"])
        #expect(again.status == 0 && again.output.contains("is already fetched"), "\(again.output)")
        #expect(try setup.database.activeModel()?.id == fetched.id, "child \(child) must not be activated")
    }

    @Test func aCorruptedDownloadIsRefusedAndRemoved() throws {
        var damaged = Self.checkpoint
        damaged[damaged.count / 2] ^= 0x40   // one bit inside a tensor's bytes
        // No published hash: the CRC-32 the archive records for each entry catches it.
        let crc = try Setup("corrupt-crc")
        crc.server.serve("/files/tiny.pth", damaged)
        let refused = try crc.fetch()
        #expect(refused.status != 0 && refused.output.contains("refused tiny.pth") && refused.output.contains("CRC-32"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: crc.state + "/downloads/tiny/tiny.pth"))
        #expect(try crc.database.models().isEmpty && crc.manifests.isEmpty)
        // With a published hash: refused on the hash. Served right the next time, the same command succeeds.
        let pinned = try Setup("corrupt-sha", sha256: Self.checkpointSHA256)
        pinned.server.serve("/files/tiny.pth", damaged)
        let second = try pinned.fetch()
        #expect(second.status != 0 && second.output.contains("the catalog says \(Self.checkpointSHA256)"), "\(second.output)")
        pinned.server.serve("/files/tiny.pth", Self.checkpoint)
        let good = try pinned.fetch()
        #expect(good.status == 0, "\(good.output)")
    }

    @Test func wrongContentIsRefused() throws {
        // An HTML page where the checkpoint should be (a login wall, a captive portal).
        let html = try Setup("wrong-html")
        html.server.serve("/files/tiny.pth", Data("<html><body>Please sign in</body></html>".utf8))
        let page = try html.fetch()
        #expect(page.status != 0 && page.output.contains("refused tiny.pth") && page.output.contains("not a PyTorch checkpoint"), "\(page.output)")
        #expect(try html.database.models().isEmpty)

        // A pickle that would run code: the restricted unpickler refuses it, nothing runs.
        let malicious = try Setup("wrong-pickle")
        let exploit = BuiltProducts.packageRoot + "/Tests/DetectorTests/Fixtures/malicious"
        let exploitFile = try #require(try FileManager.default.contentsOfDirectory(atPath: exploit).sorted().first { $0.hasSuffix(".pth") })
        malicious.server.serve("/files/tiny.pth", try Data(contentsOf: URL(fileURLWithPath: exploit + "/" + exploitFile)))
        let evil = try malicious.fetch()
        #expect(evil.status != 0 && evil.output.contains("refused tiny.pth"), "\(evil.output)")

        // The built-in catalog through --mirror: another network under an official name is refused by its args.
        let mirror = try Setup("wrong-net")
        mirror.server.serve("/files/pretrained_resnet101_checkpoint.pth", Self.checkpoint)
        let official = try runPipelined(["model", "fetch", "mdetr-r101", "--mirror", mirror.server.baseURL + "/files",
                                         "--database-url", mirror.common[3], "--state-dir", mirror.state], environment: Setup.direct)
        #expect(official.status != 0 && official.output.contains("mdetr-r101 is resnet101"), "\(official.output)")
        #expect(try mirror.database.models().isEmpty)

        // Tokenizer files that do not parse are refused before the checkpoint is downloaded.
        let tokenizer = try Setup("wrong-vocab")
        tokenizer.server.serve("/files/vocab.json", Data("[1, 2, 3]".utf8))
        let vocab = try tokenizer.fetch()
        #expect(vocab.status != 0 && vocab.output.contains("refused vocab.json"), "\(vocab.output)")
        #expect(!tokenizer.server.requests.contains { $0.contains("/files/tiny.pth") })
    }

    /// libcurl honours the proxy variables: a host that does not resolve is reached through the proxy.
    @Test func proxyVariablesAreHonoured() throws {
        let setup = try Setup("proxy", base: "http://models.invalid")
        let fetched = try setup.fetch([], environment: ["http_proxy": setup.server.baseURL, "no_proxy": "", "NO_PROXY": ""])
        #expect(fetched.status == 0, "\(fetched.output)")
        #expect(setup.server.requests.contains { $0.hasPrefix("GET http://models.invalid/files/tiny.pth HTTP/1.1") },
                "\(setup.server.requests.map { $0.prefix(80) })")
    }
}
