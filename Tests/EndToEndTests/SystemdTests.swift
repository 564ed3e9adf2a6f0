import Foundation
import TestSupport
import Testing

@Suite struct SystemdTests {
    @Test func unitVerifiesCleanly() throws {
        let root = BuiltProducts.packageRoot
        let unit = try String(contentsOfFile: root + "/systemd/pipelined.service", encoding: .utf8)
        for directive in ["Type=notify", "NotifyAccess=main", "WatchdogSec=", "User=pipelined", "ProtectSystem=strict",
                          "ReadWritePaths=", "NoNewPrivileges=true", "PrivateTmp=true", "OPENBLAS_NUM_THREADS=",
                          "ExecReload=", "StateDirectory=pipelined"] {
            #expect(unit.contains(directive), "unit lacks \(directive)")
        }
        // systemd-analyze needs the ExecStart binary to exist: point it at the one just built.
        let dir = TemporaryDirectory("unit")
        let path = dir.file("pipelined.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/pipelined", with: BuiltProducts.path("pipelined"))
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try systemdAnalyze(["verify", path])
        // verify exits 0 even on unknown keys and bad values; only silence means the unit is clean.
        #expect(status == 0 && output.isEmpty, "systemd-analyze verify: \(output)")
    }

    func systemdAnalyze(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        process.arguments = arguments
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// The sandbox systemd can put around the daemon: `systemd-analyze security` exposure at most 2.0 (it was 3.2).
    @Test func unitIsHardened() throws {
        let (_, text) = try systemdAnalyze(["security", "--offline=true", BuiltProducts.packageRoot + "/systemd/pipelined.service"])
        let marker = "Overall exposure level for pipelined.service: "
        let score = try #require(text.components(separatedBy: marker).last?.split(separator: " ").first.flatMap { Double($0) },
                                 "\(text)")
        #expect(score <= 2.0, "exposure \(score):\n\(text)")
    }

    @Test func daemonSpeaksTheNotifyProtocol() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "sdn")
        let socket = FakeSystemdSocket(path: setup.dir.file("notify"))
        let daemon = try setup.start(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000"])
        defer { daemon.terminate() }
        let ready = try #require(socket.receive(), "no READY=1: \(daemon.log)")
        #expect(ready.split(separator: "\n").contains("READY=1"), "\(ready)")
        #expect(ready.contains("MAINPID=\(daemon.pid)"))
        // Ready means the watcher is up: a file dropped now is processed.
        #expect(daemon.log.contains("inbox watched"))
        #expect(socket.receive() == "WATCHDOG=1")

        daemon.signal(SIGHUP)
        var messages: [String] = []
        _ = eventually(timeout: 10) {
            if let m = socket.receive() { messages.append(m) }
            return messages.contains { $0.contains("READY=1") }
        }
        #expect(messages.contains("RELOADING=1"), "\(messages)")
        #expect(daemon.isRunning)

        daemon.signal(SIGTERM)
        let stopping = eventually(timeout: 10) { socket.receive()?.hasPrefix("STOPPING=1") == true }
        #expect(stopping)
        #expect(daemon.wait(timeout: 30) == 0, "\(daemon.log)")
    }
}
