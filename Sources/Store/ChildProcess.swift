import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper program (initdb, pg_ctl) to completion and captures its output through a file.
///
/// Not `Foundation.Process`: `pg_ctl start` leaves a postmaster behind that would inherit Foundation's
/// exit-detection descriptor and make `waitUntilExit()` hang. Here every descriptor above 2 is marked close-on-exec
/// before spawning, and output goes to a file, so nothing the server inherits can block us.
struct ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let output: String
        var description: String { "`\(command)` exited with status \(status): \(output.trimmed)" }
    }

    /// Runs `arguments[0]` (searched in PATH when it has no slash) and returns its combined output.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        precondition(!arguments.isEmpty)
        markDescriptorsCloseOnExec()
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("pipelined-child-\(getpid())-\(UUID().uuidString).log").path
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var cArgs: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, &cArgs, environ)
        let command = arguments.joined(separator: " ")
        guard spawned == 0 else {
            throw Failure(command: command, status: -1, output: String(cString: strerror(spawned)))
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard code == 0 else { throw Failure(command: command, status: code, output: output) }
        return output
    }

    private static func markDescriptorsCloseOnExec() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for entry in entries {
            guard let fd = Int32(entry), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
