import Foundation
import Pipeline
import TestSupport
import Testing

@Suite struct ConfigLoaderTests {
    @Test func exampleConfigLoads() throws {
        let config = try ConfigLoader.load(path: BuiltProducts.packageRoot + "/systemd/pipelined.toml", environment: [:])
        #expect(config.stateDirectory == "/var/lib/pipelined")
        #expect(config.inboxes == [InboxConfig(name: "photos", path: "/srv/pipelined/inbox")])
        #expect(config.databaseURL == nil)
        #expect(config.stageConcurrency == ["decode": 2, "detect": 1, "record": 2])
        #expect(config.limits.maxPixels == 64_000_000)
        #expect(config.query.scoreThreshold == nil, "the example leaves the threshold to the model")
    }

    private func load(_ toml: String, environment: [String: String] = [:]) throws -> Config {
        let dir = TemporaryDirectory("cfg")
        let path = dir.file("c.toml")
        try toml.write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(path: path, environment: environment)
    }

    /// Class-wise NMS is on by default for the daemon; `nms_iou = 0` is the official protocol's none.
    @Test func nmsIsOnByDefaultAndZeroTurnsItOff() throws {
        #expect(try load("").query.nmsIoU == 0.5)
        #expect(try load("[query]\nnms_iou = 0.0").query.nmsIoU == nil)
        #expect(try load("[query]\nnms_iou = 0.7").query.nmsIoU == 0.7)
    }

    /// Unset, the score threshold is the running model's own; set, it holds for every model.
    @Test func theScoreThresholdIsTheModelsUnlessSet() throws {
        #expect(try load("").query.scoreThreshold == nil)
        #expect(try load("[query]\nscore_threshold = 0.25").query.scoreThreshold == 0.25)
    }

    @Test func environmentOverridesTheFile() throws {
        let config = try load("""
            [database]
            url = "host=/a dbname=b"
            """, environment: ["PIPELINED_DATABASE_URL": "host=/c dbname=d", "PIPELINED_STATE_DIR": "/tmp/s"])
        #expect(config.databaseURL == "host=/c dbname=d")
        #expect(config.stateDirectory == "/tmp/s")
        #expect(config.archiveRoot == "/tmp/s/archive")
    }

    @Test func unknownKeysAreErrors() {
        #expect {
            _ = try load("[queue]\nlease_secnds = 3\n")
        } throws: { error in
            guard case let ConfigError.unknownKey(_, key) = error else { return false }
            return key == "queue.lease_secnds"
        }
    }

    @Test func wrongTypesAndValuesAreErrors() {
        #expect(throws: ConfigError.self) { _ = try load("[queue]\nmax_attempts = \"five\"\n") }
        #expect(throws: ConfigError.self) { _ = try load("[queue]\nlease_seconds = -1\n") }
        #expect(throws: ConfigError.self) { _ = try load("log_level = \"loud\"\n") }
        #expect(throws: ConfigError.self) { _ = try load("[[inbox]]\nname = \"a\"\n") }
        #expect(throws: ConfigError.self) { _ = try load("this is not toml\n") }
    }

    @Test func noInboxMeansTheStateDirectoryInbox() throws {
        let config = try load("state_directory = \"/tmp/x\"\n")
        #expect(config.effectiveInboxes == [InboxConfig(name: "default", path: "/tmp/x/inbox")])
    }
}
