import Foundation
@testable import Store
import TestSupport
import Testing

/// Per-image questions through the daemon: a sidecar's phrases name the detections; a malformed sidecar is kept as
/// evidence and the image still gets its inbox's questions.
@Suite struct SidecarTests {
    @Test func sidecarPhrasesNameTheDetectionsAndABadSidecarLosesNothing() throws {
        let url = try TestDatabase.fresh()
        let setup = try HarnessSetup(url: url, prefix: "side")
        let daemon = try setup.start()
        defer { daemon.terminate() }
        #expect(eventually(timeout: 60) { daemon.log.contains("inbox watched") }, "\(daemon.log)")

        // The sidecar goes in first, then the image (the documented order).
        try #"{"caption": "a red star left of a blue ring", "phrases": [[2, 10], [21, 30]]}"#
            .write(toFile: setup.inbox + "/grounded.png.json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: setup.inbox + "/grounded.png", contents: TinyPNG.sample(seed: 41, width: 40, height: 30))
        try #"["a cat", "a dog"]"#.write(toFile: setup.inbox + "/listed.png.json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: setup.inbox + "/listed.png", contents: TinyPNG.sample(seed: 42, width: 40, height: 30))
        try #"{"caption": "a cat", "phrases": [[0, 99]]}"#.write(toFile: setup.inbox + "/bad.png.json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: setup.inbox + "/bad.png", contents: TinyPNG.sample(seed: 43, width: 40, height: 30))

        // Valid JSON, but more than the model reads: the image still gets its inbox's questions, the reason is kept.
        let long = String(repeating: "a very long caption ", count: 15)
        try "{\"caption\": \"\(long)\", \"phrases\": [[2, 6]]}".write(toFile: setup.inbox + "/long.png.json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: setup.inbox + "/long.png", contents: TinyPNG.sample(seed: 44, width: 40, height: 30))

        let db = Database(url: url)
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 4 }, "\(daemon.log.suffix(3000))")
        func labels(_ name: String) throws -> [String] {
            try db.query(Statement("side.labels.\(name)", """
                SELECT label FROM detections_for_file WHERE original_name = '\(name)' ORDER BY label
                """)).map { try $0.string("label") }
        }
        #expect(try labels("grounded.png") == ["blue ring", "red star"])
        #expect(try labels("listed.png") == ["a cat", "a dog"])
        // The bad sidecar: the image got the inbox's default prompt, the sidecar is evidence in sidecar_errors.
        #expect(try labels("bad.png").count == 1)
        let errors = try db.query(Statement("side.errors", "SELECT original_name, error, raw FROM sidecar_errors"))
        #expect(errors.count == 1)
        #expect(try errors.first?.string("original_name") == "bad.png")
        #expect(try errors.first?.string("error").contains("outside the caption") == true)
        #expect(try errors.first?.string("raw").contains("[[0, 99]]") == true)
        let settings = try db.query(Statement("side.settings", """
            SELECT p.settings ->> 'queries' AS queries, p.settings ->> 'phrases' AS phrases
            FROM provenance p JOIN images i ON i.id = p.image_id WHERE i.original_name = 'grounded.png'
            """))
        #expect(settings.first?["queries"] == "sidecar" && settings.first?["phrases"] == "red star | blue ring")
        #expect(try labels("long.png").count == 1)
        let longSettings = try db.query(Statement("side.long", """
            SELECT p.settings ->> 'sidecar_error' AS error FROM provenance p JOIN images i ON i.id = p.image_id
            WHERE i.original_name = 'long.png'
            """))
        #expect(longSettings.first?["error"]?.contains("tokens") == true, "\(longSettings.first?["error"] ?? "nil")")
        // Sidecars leave the inbox with their images: their content is in the database.
        #expect(eventually(timeout: 10) { ((try? FileManager.default.contentsOfDirectory(atPath: setup.inbox)) ?? ["?"]).isEmpty },
                "\((try? FileManager.default.contentsOfDirectory(atPath: setup.inbox)) ?? [])")
        #expect(daemon.terminate() == 0)
    }
}
