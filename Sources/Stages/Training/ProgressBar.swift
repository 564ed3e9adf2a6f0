import Foundation

/// A one-line progress bar on a terminal (stderr): count (or bytes), percentage, rate and time left. Silent when
/// stderr is not a terminal (logs, pipes), where callers print summaries instead. Thread-safe.
public final class ProgressBar: @unchecked Sendable {
    public enum Unit: Sendable { case items, bytes }
    private var total: Int
    private let label: String
    private let enabled: Bool
    private let unit: Unit
    private let started = Date()
    /// Where this run started (a resumed download's bytes already there do not count towards the rate).
    private var initial: Int?
    private var done = 0
    private var lastDraw = Date.distantPast
    private var detail = ""
    private let lock = NSLock()

    public init(total: Int, label: String, enabled: Bool = true, unit: Unit = .items) {
        self.total = max(total, 1)
        self.label = label
        self.unit = unit
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

    /// Sets the position (and the total, once known) instead of advancing it.
    public func update(done: Int, total: Int? = nil) {
        lock.lock()
        defer { lock.unlock() }
        if initial == nil { initial = done }
        self.done = done
        if let total { self.total = max(total, 1) }
        let now = Date()
        if enabled, now.timeIntervalSince(lastDraw) >= 0.2 {
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
        let rate = elapsed > 0 ? Double(done - (initial ?? 0)) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let (scale, name) = total >= 1_000_000_000 ? (1e9, "GB") : (1e6, "MB")
        let counts = unit == .bytes
            ? String(format: "%.2f/%.2f %@ %3.0f%% %.1f MB/s", Double(done) / scale, Double(total) / scale, name, fraction * 100, rate / 1e6)
            : String(format: "%d/%d %3.0f%% %.1f/s", done, total, fraction * 100, rate)
        let line = String(format: "\r%@ %@ %@, %@ left %@", label, bar, counts, Self.duration(left), detail)
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
