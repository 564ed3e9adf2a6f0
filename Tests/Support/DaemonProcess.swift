import Foundation

/// A daemon (the harness or `pipelined`) running as a child process, with its log in a file.
public final class DaemonProcess: @unchecked Sendable {
    public let process = Process()
    public let logPath: String

    /// `bareEnvironment`: only `environment` (as `env -i` would leave it), not the test process's variables.
    public init(executable: String, arguments: [String], logPath: String, environment: [String: String] = [:],
                bareEnvironment: Bool = false) throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = bareEnvironment ? [:] : ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "WATCHDOG_USEC")
        // Many daemons run at once in the tests: none listens on the default HTTP port unless a test asks.
        if !bareEnvironment { env["PIPELINED_HTTP_LISTEN"] = "" }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    public func signal(_ signo: Int32) { kill(process.processIdentifier, signo) }

    /// SIGTERM, then waits up to `timeout` seconds. Returns the exit status, or nil if it did not exit.
    @discardableResult
    public func terminate(timeout: Double = 30) -> Int32? {
        signal(SIGTERM)
        return wait(timeout: timeout)
    }

    /// Kills without any chance to clean up, as a crash or the OOM killer would.
    public func kill9() {
        signal(SIGKILL)
        _ = wait(timeout: 10)
    }

    public func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
