import Foundation

/// Runs the built `pipelined` binary once, to completion (or `timeout`), and returns its exit status and output.
/// `environment` is added to the test's own; `bareEnvironment` is all the command gets (as `env -i` would leave it).
public func runPipelined(_ arguments: [String], timeout: Double = 120, environment: [String: String] = [:],
                         bareEnvironment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let dir = TemporaryDirectory("cmd")
    let process = try DaemonProcess(executable: BuiltProducts.path("pipelined"), arguments: arguments,
                                    logPath: dir.file("out"), environment: bareEnvironment ?? environment,
                                    bareEnvironment: bareEnvironment != nil)
    let status = process.wait(timeout: timeout) ?? -1
    return (status, process.log)
}
