import Foundation
@testable import Store
import TestSupport
import Testing

/// The results page in a real browser (Debian's headless Chromium): one card per image, one box per drawn
/// detection, hostile names and labels shown as text, and only ids reach the archive.
@Suite struct ResultsPageTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func browser(_ arguments: [String], dir: TemporaryDirectory) throws -> (status: Int32, output: String) {
        let process = try DaemonProcess(executable: try #require(chromium),
                                        arguments: ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                                    "--user-data-dir=" + dir.file("profile")] + arguments,
                                        logPath: dir.file("chromium-\(UUID().uuidString).out"))
        let status = process.wait(timeout: 120) ?? -1
        return (status, process.log)
    }

    @Test(.enabled(if: chromium != nil, "tools/setup.sh test installs Debian's chromium"))
    func theResultsPageShowsEveryImageWithItsBoxesAndEscapesWhatUsersWrote() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "page")
        // The inbox asks a vocabulary whose one category is a script; the sidecar image asks a phrase that is one.
        let vocabulary = setup.dir.file("evil.txt")
        try "<script>alert(1)</script>\n".write(toFile: vocabulary, atomically: true, encoding: .utf8)
        let imported = try runPipelined(["vocab", "import", vocabulary, "--name", "evil", "--database-url", setup.url, "--state-dir", setup.dir.file("state0")])
        #expect(imported.status == 0, "\(imported.output)")
        let config = try setup.config()
        try (try String(contentsOfFile: config, encoding: .utf8)).replacingOccurrences(of: "name = \"drop\"", with: "name = \"drop\"\nvocabulary = \"evil\"")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try setup.start(config: config, environment: ["PIPELINED_HTTP_LISTEN": "127.0.0.1:0"])
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { HTTPListenerTests.port(daemon) != nil }, "\(daemon.log)")
        let port = try #require(HTTPListenerTests.port(daemon))
        // A hostile file name with a hostile sidecar phrase (it becomes the detection's label).
        let hostileName = #""><img src=x onerror=alert(1)>.png"#
        try #"["<script>alert(1)</script>"]"#.write(toFile: setup.inbox + "/" + hostileName + ".json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: setup.inbox + "/" + hostileName, contents: TinyPNG.sample(seed: 41, width: 96, height: 64))
        for i in 0..<2 { FileManager.default.createFile(atPath: setup.inbox + "/plain\(i).png", contents: TinyPNG.sample(seed: 42 + i, width: 96, height: 64)) }
        let db = Database(url: setup.url)
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 3 }, "\(daemon.log.suffix(2000))")
        let drawn = try db.query(Statement("page.drawn", "SELECT image_id, least(count(*), 20) AS n FROM detections GROUP BY image_id"))
            .reduce(0) { $0 + (try $1.int("n")) }
        let categories = try db.query(Statement("page.categories", "SELECT count(*) AS n FROM vocabulary_detections WHERE category = '<script>alert(1)</script>'"))
        #expect(try categories.first?.int("n") ?? 0 >= 2, "the vocabulary was asked")

        let dir = TemporaryDirectory("chromium")
        let dom = try Self.browser(["--dump-dom", "http://127.0.0.1:\(port)/"], dir: dir)
        #expect(dom.status == 0, "\(dom.output.suffix(2000))")
        #expect(dom.output.components(separatedBy: "<article class=\"card\"").count - 1 == 3, "\(dom.output)")
        #expect(drawn >= 3 && dom.output.components(separatedBy: "<rect class=\"box\"").count - 1 == drawn, "\(drawn) drawn; \(dom.output)")
        // Escaped: shown as text, never parsed into elements.
        #expect(!dom.output.contains("<script>alert(1)</script>") && dom.output.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(dom.output)")
        #expect(!dom.output.contains("<img src=\"x\"") && dom.output.contains("&lt;img src=x onerror=alert(1)&gt;.png"), "\(dom.output)")

        let shot = dir.file("page.png")
        let screenshot = try Self.browser(["--window-size=1200,800", "--screenshot=" + shot, "http://127.0.0.1:\(port)/"], dir: dir)
        let size = (try? FileManager.default.attributesOfItem(atPath: shot)[.size] as? NSNumber)?.intValue ?? 0
        #expect(screenshot.status == 0 && size > 10_000, "\(screenshot.output.suffix(1000))")

        // One image's page; ids only; nothing else reaches the archive.
        let id = try #require(try db.image(arrivedAs: hostileName)?.id)
        let page = try httpGet(port: port, path: "/images/\(id)")
        #expect(page.status == 200 && page.body.contains("&lt;script&gt;") && !page.body.contains("<script>"), "\(page.body)")
        #expect(try httpGet(port: port, path: "/images/\(id)/file").status == 200)
        for path in ["/images/999999", "/images/999999/file", "/images/../../etc/passwd", "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd/file", "/images/abc/file"] {
            #expect(try httpGet(port: port, path: path).status == 404, "\(path)")
        }
        #expect(try httpGet(port: port, path: "/?min_score=7").status == 400)
    }
}
