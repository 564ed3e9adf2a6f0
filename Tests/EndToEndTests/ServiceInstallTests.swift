import Foundation
import TestSupport
import Testing

/// The README's service install, run verbatim on a throwaway copy of this machine (overlays in a private mount
/// namespace: `Fixtures/service-install/machine.sh`), then the installed unit started as systemd would start it —
/// as `pipelined`, under the sandbox its directives describe (bwrap + setpriv, derived here from the unit file; systemd
/// is not PID 1 on these machines) — one image dropped by a member of the `pipelined` group followed to done, and a
/// model fetched as the README says for a service (from a loopback server) taken up by the running daemon.
@Suite struct ServiceInstallTests {
    static let root = BuiltProducts.packageRoot
    /// Root, the tools, and `/` a mount point: in a chroot a private mount namespace cannot be made (and overlays
    /// there could reach the host's mounts), so the test does not run there.
    static var canRun: Bool {
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let rootIsMounted = mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first == "/" }
        return getuid() == 0 && rootIsMounted
            && ["/usr/bin/bwrap", "/usr/bin/unshare", "/usr/bin/setpriv"].allSatisfy { FileManager.default.fileExists(atPath: $0) }
    }

    @Test(.enabled(if: canRun, "needs root, bwrap, unshare, setpriv and / a mount point (not a chroot)"))
    func theReadmeInstallRunsAndTheSandboxedUnitTakesAnImageToDone() throws {
        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        let work = TemporaryDirectory("service-install")
        try Self.block(after: "<!-- service-install", in: readme).write(toFile: work.file("install.sh"), atomically: true, encoding: .utf8)
        try Self.block(after: "<!-- service-use", in: readme).write(toFile: work.file("use.sh"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Self.root + "/Tests/EndToEndTests/Fixtures/default-model/synthetic-003314.jpg",
                                         toPath: work.file("photo.jpg"))
        // systemd's notification socket, reached from inside the sandbox through a bound directory.
        try FileManager.default.createDirectory(atPath: work.file("notify"), withIntermediateDirectories: true)
        let notify = FakeSystemdSocket(path: work.file("notify/sock"))
        chmod(work.file("notify"), 0o777)
        chmod(work.file("notify/sock"), 0o777)
        // A model to fetch: the tiny MDETR fixture on a loopback server (the machine shares this network namespace).
        let server = try LoopbackHTTPServer()
        let fixture = Self.root + "/Tests/DetectorTests/Fixtures/mdetr_end_to_end/"
        var companions: [[String: Any]] = []
        for file in ["checkpoint.pth", "vocab.json", "merges.txt", "config.json"] {
            server.serve("/" + file, try Data(contentsOf: URL(fileURLWithPath: fixture + file)))
            if file != "checkpoint.pth" { companions.append(["name": file, "urls": [server.baseURL + "/" + file]]) }
        }
        let catalog: [String: Any] = ["models": [["name": "tiny", "description": "tiny MDETR", "companions": companions,
                                                  "checkpoint": ["name": "tiny.pth", "urls": [server.baseURL + "/checkpoint.pth"]]]]]
        try JSONSerialization.data(withJSONObject: catalog).write(to: URL(fileURLWithPath: work.file("catalog.json")))
        chmod(work.path, 0o755)
        chmod(work.file("catalog.json"), 0o644)

        let unit = try String(contentsOfFile: Self.root + "/systemd/pipelined.service", encoding: .utf8)
        let sandbox = try Self.sandbox(unit: unit, notifyDirectory: work.file("notify"))
        try sandbox.joined(separator: "\n").write(toFile: work.file("sandbox.args"), atomically: true, encoding: .utf8)

        let machine = try DaemonProcess(
            executable: "/usr/bin/unshare",
            arguments: ["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc",
                        "/bin/bash", Self.root + "/Tests/EndToEndTests/Fixtures/service-install/machine.sh", Self.root, work.path],
            logPath: work.file("machine.log"))
        let status = machine.wait(timeout: 1500)
        let log = machine.log
        let daemonLog = (try? String(contentsOfFile: work.file("daemon.log"), encoding: .utf8)) ?? ""
        let context = "\(log.suffix(4000))\n--- daemon.log ---\n\(daemonLog.suffix(3000))"
        #expect(status == 0, "\(context)")
        // Installed and started as the unit says: the pipelined user, CAP_LEASE its only capability, no new privileges.
        let uid = log.components(separatedBy: "\n").first { $0.hasPrefix("== pipelined uid ") }.map { String($0.dropFirst(17)) }
        let proc = log.components(separatedBy: "\n").first { $0.hasPrefix("== daemon ") } ?? ""
        #expect(uid != nil && proc.contains("Uid: \(uid!) \(uid!) \(uid!) \(uid!)"), "\(proc)")
        #expect(proc.contains("CapEff: 0000000010000000") && proc.contains("CapBnd: 0000000010000000") && proc.contains("NoNewPrivs: 1"),
                "\(proc)")
        // On the default model from /usr/share/pipelined, found by the binary itself.
        #expect(daemonLog.contains("model loaded model=default@"), "\(daemonLog)")
        #expect(log.contains("== done jobs 1"), "\(context)")
        #expect(log.contains(" photo.jpg ") && log.contains("(10 rows)"), "the README's psql line shows the image's detections: \(context)")
        // The README's fetch for a service: run as its user, registered and activated; the sandboxed daemon reads it.
        #expect(log.contains("registered as model") && log.contains("is now active"), "\(context)")
        #expect(log.contains("model switched model=tiny@") && log.contains("own_vocabulary=none"), "\(context)")
        #expect(log.contains("== exit 0"), "\(context)")
        var messages: [String] = []
        while let m = notify.receive(timeout: 0.2) { messages.append(m) }
        #expect(messages.contains { $0.contains("READY=1") } && messages.contains { $0.contains("STOPPING=1") }, "\(messages)")
    }

    /// The fenced block after a marker comment.
    static func block(after marker: String, in text: String) throws -> String {
        let start = try #require(text.range(of: marker))
        let fence = try #require(text.range(of: "```sh\n", range: start.upperBound..<text.endIndex))
        let end = try #require(text.range(of: "\n```", range: fence.upperBound..<text.endIndex))
        return String(text[fence.upperBound..<end.lowerBound]) + "\n"
    }

    /// The command line (bwrap, setpriv) that puts the unit's `ExecStart` under what its directives ask for. Every directive of
    /// `[Service]` is either translated or named below as enforced by systemd alone (checked by SystemdTests'
    /// `systemd-analyze verify` and `security`); an unknown one fails the test, so the two cannot drift apart.
    static func sandbox(unit: String, notifyDirectory: String) throws -> [String] {
        var directives: [(String, String)] = []
        var inService = false
        for raw in unit.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { inService = line == "[Service]"; continue }
            guard inService, !line.isEmpty, !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            directives.append((String(line[..<eq]), String(line[line.index(after: eq)...])))
        }
        let systemdOnly: Set<String> = [
            "Type", "NotifyAccess", "ExecReload", "Restart", "RestartSec", "TimeoutStartSec", "TimeoutStopSec", "KillMode",
            "WatchdogSec", "StateDirectoryMode", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
            "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictNamespaces", "RestrictRealtime",
            "RestrictSUIDSGID", "LockPersonality", "SystemCallArchitectures", "RestrictAddressFamilies", "IPAddressDeny",
            "IPAddressAllow", "MemoryDenyWriteExecute", "SystemCallFilter", "SystemCallErrorNumber", "ProtectProc",
        ]
        // bwrap keeps root's capabilities for setpriv, which then drops to the unit's user, bounding and ambient sets.
        // No PID or IPC namespace: the unit asks for neither (PrivatePIDs/PrivateIPC), and a command run beside the
        // service must find its PostgreSQL as it would under systemd.
        var bwrap = ["/usr/bin/bwrap", "--cap-add", "ALL", "--die-with-parent", "--clearenv",
                     "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "--setenv", "NOTIFY_SOCKET", "/run/notify/sock"]
        var mounts: [String] = []
        var tail: [String] = ["--bind", notifyDirectory, "/run/notify"]
        var setpriv = ["/usr/bin/setpriv"]
        var user = "", group = "", umask = "0022"
        var limits: [String] = []
        var exec: [String] = []
        for (key, value) in directives {
            switch (key, value) {
            case ("User", _): user = value
            case ("Group", _): group = value
            case ("ExecStart", _): exec = value.split(separator: " ").map(String.init)
            case ("Environment", _):
                let eq = try #require(value.firstIndex(of: "="))
                bwrap += ["--setenv", String(value[..<eq]), String(value[value.index(after: eq)...])]
            case ("StateDirectory", _): tail += ["--bind", "/var/lib/" + value, "/var/lib/" + value]
            case ("ProtectSystem", "strict"): mounts = ["--ro-bind", "/", "/"] + mounts
            case ("ReadWritePaths", _):
                for path in value.split(separator: " ") {
                    tail += path.hasPrefix("-") ? ["--bind-try", String(path.dropFirst()), String(path.dropFirst())]
                        : ["--bind", String(path), String(path)]
                }
            case ("ProtectHome", "true"): tail += ["--tmpfs", "/home", "--tmpfs", "/root", "--tmpfs", "/run/user"]
            case ("PrivateTmp", "true"): tail += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/var/tmp"]
            case ("PrivateDevices", "true"): tail += ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"]
            case ("PrivateMounts", "true"): break   // bwrap always runs in its own mount namespace
            case ("NoNewPrivileges", "true"): setpriv.append("--no-new-privs")
            case ("CapabilityBoundingSet", _):
                setpriv.append("--bounding-set=-all," + Self.capabilities(value))
            case ("AmbientCapabilities", _):
                setpriv += ["--inh-caps=-all," + Self.capabilities(value), "--ambient-caps=-all," + Self.capabilities(value)]
            case ("UMask", _): umask = value
            // As far as this machine lets it: its root may lack CAP_SYS_RESOURCE to raise the hard limit.
            case ("LimitNOFILE", _): limits.append("ulimit -n \(value) 2>/dev/null || ulimit -n $(ulimit -Hn)")
            default:
                guard systemdOnly.contains(key) else { Issue.record("the sandbox does not know \(key)=\(value): translate it or list it as systemd-only"); continue }
            }
        }
        #expect(!user.isEmpty && !exec.isEmpty)
        setpriv += ["--reuid=\(user)", "--regid=\(group.isEmpty ? user : group)", "--init-groups"]
        let command = (limits + ["umask \(umask)", "exec " + exec.joined(separator: " ")]).joined(separator: "; ")
        return bwrap + mounts + tail + ["--"] + setpriv + ["/bin/sh", "-c", command]
    }

    /// `CAP_LEASE CAP_CHOWN` → `+lease,+chown`, as setpriv names them.
    static func capabilities(_ value: String) -> String {
        value.split(separator: " ").map { "+" + $0.dropFirst("CAP_".count).lowercased() }.joined(separator: ",")
    }
}
