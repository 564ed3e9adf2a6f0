import COpenBLAS
import Foundation

/// OpenBLAS chooses its kernels from the CPU when the library loads. Debian 12's 0.3.21 does not know CPUs newer
/// than itself (Sapphire Rapids among them) and falls back to its generic Prescott (SSE3) kernels: sgemm at a third
/// of what the same machine reaches with its AVX-512 kernels. The choice can only be overridden by
/// `OPENBLAS_CORETYPE` before the library loads, so an executable that does numeric work re-executes itself once
/// with it set (`reexecIfGenericKernels`).
public enum BLASKernels {
    /// The kernel family OpenBLAS loaded ("Cooperlake", "Haswell", "Prescott" …).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Families whose sgemm uses the CPU's wide vectors; anything else on an AVX2/AVX-512 CPU is a fallback.
    static let tuned: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen"]

    /// The core type to ask for when `current` is a fallback on a CPU with `flags` (from /proc/cpuinfo), else nil.
    public static func preferredCoreType(current: String, flags: Set<String>) -> String? {
        guard !tuned.contains(current) else { return nil }
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl"]) {
            return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The CPU's feature flags (Linux).
    public static func cpuFlags() -> Set<String> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Call first thing in `main`: when OpenBLAS fell back to generic kernels and the user set no
    /// `OPENBLAS_CORETYPE`, sets it and re-executes the same binary with the same arguments (same PID, so systemd
    /// and sd_notify are unaffected). Returns normally when nothing is to be done or the exec fails.
    public static func reexecIfGenericKernels() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let core = preferredCoreType(current: coreName, flags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }
}
