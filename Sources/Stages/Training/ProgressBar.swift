import Foundation

/// A one-line progress bar on a terminal (stderr): count, percentage, rate and time left. Silent when stderr is not a
/// terminal (logs, pipes), where callers print summaries instead. Thread-safe.
public final class ProgressBar: @unchecked Sendable {
    private let total: Int
    private let label: String
    private let enabled: Bool
    private let started = Date()
    private var done = 0
    private var lastDraw = Date.distantPast
    private var detail = ""
    private let lock = NSLock()

    public init(total: Int, label: String, enabled: Bool = true) {
        self.total = max(total, 1)
        self.label = label
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
    }

    /// Whether the bar is drawn (stderr is a terminal); callers log summaries otherwise.
    public var isVisible: Bool { enabled }

    public func advance(by n: Int = 1, detail: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        done += n
        if let detail { self.detail = detail }
        let now = Date()
        if enabled, now.timeIntervalSince(lastDraw) >= 0.2 || done >= total {
            lastDraw = now
            draw(now)
        }
    }

    public func finish() {
        lock.lock()
        defer { lock.unlock() }
        if enabled { draw(Date()); FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func draw(_ now: Date) {
        let fraction = Double(min(done, total)) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = now.timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "\r%@ %@ %d/%d %3.0f%% %.1f/s, %@ left %@", label, bar, done, total, fraction * 100, rate,
                          Self.duration(left), detail)
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
