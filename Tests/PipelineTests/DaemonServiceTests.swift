import Foundation
@testable import Pipeline
import TestSupport
import Testing

/// Reload rules: a component built from restart-only settings names the ones that changed.
@Suite struct DaemonServiceTests {
    /// The stages' settings as the configuration gives them, however large: `lease_seconds = 1e300` passes the
    /// config's "positive" check, and its fingerprint used to convert it to an integer, which traps.
    @Test func stageSettingsTakeAnyValueTheConfigAccepts() throws {
        let dir = TemporaryDirectory("dsv")
        let path = dir.file("c.toml")
        try """
            state_directory = "\(dir.file("state"))"
            [queue]
            lease_seconds = 1e300
            poll_interval_seconds = inf
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(path: path, environment: [:])
        var changed = config
        changed.leaseSeconds = 30
        let service = FixedService(name: "stage settings", config: config, settings: Daemon.stageSettings, stop: { _ in })
        #expect(service.reload(config).isEmpty)
        #expect(service.reload(changed) == ["queue"])
    }
}
