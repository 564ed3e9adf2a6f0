import Foundation

/// Executables built next to the test bundle (`swift build --build-tests` builds them all).
public enum BuiltProducts {
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["PIPELINED_BIN_DIR"], !dir.isEmpty { return dir }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test runner may live inside the .xctest bundle directory.
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("pipelined").path) {
            url = url.deletingLastPathComponent()
        }
        return url.path
    }

    public static func path(_ name: String) -> String { directory + "/" + name }

    /// The repository root (for README, systemd/ and migrations/).
    public static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
}
