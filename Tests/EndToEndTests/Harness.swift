import Foundation
import Store
import TestSupport

/// A harness daemon (real Daemon, test-double detector) with its own directories and config.
struct HarnessSetup {
    let dir: TemporaryDirectory
    let url: String
    var inbox: String { dir.file("inbox") }
    var archive: String { dir.file("archive") }
    var quarantine: String { dir.file("quarantine") }

    init(url: String, prefix: String = "e2e") throws {
        dir = TemporaryDirectory(prefix)
        self.url = url
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
    }

    /// Writes a config for daemon `n` (each daemon has its own state directory; inbox and archive are shared unless
    /// `ownArchive`, which gives it the default archive inside its state directory, as on a host of its own).
    func config(_ n: Int = 0, inbox: String? = nil, lease: Double = 4, ownArchive: Bool = false) throws -> String {
        let path = dir.file("daemon\(n).toml")
        try """
            state_directory = "\(dir.file("state\(n)"))"
            \(ownArchive ? "" : "archive_directory = \"\(archive)\"")
            quarantine_directory = "\(quarantine)"
            log_level = "info"

            [database]
            url = "\(url)"

            [[inbox]]
            name = "drop"
            path = "\(inbox ?? self.inbox)"

            [scan]
            settle_seconds = 1.0
            interval_seconds = 3.0
            poll_interval_seconds = 1.0

            [queue]
            lease_seconds = \(lease)
            max_attempts = 3
            max_in_flight = 8
            poll_interval_seconds = 0.5
            shutdown_budget_seconds = 5.0
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func start(_ n: Int = 0, config: String? = nil, delayMS: Int = 0, runLog: String? = nil, crashOnWidth: Int? = nil,
               environment: [String: String] = [:]) throws -> DaemonProcess {
        var args = ["--config", try config ?? self.config(n), "--delay-ms", "\(delayMS)"]
        if let runLog { args += ["--run-log", runLog] }
        if let crashOnWidth { args += ["--crash-on-width", "\(crashOnWidth)"] }
        return try DaemonProcess(executable: BuiltProducts.path("pipelined-harness"), arguments: args,
                                 logPath: dir.file("daemon\(n).log"), environment: environment)
    }
}
