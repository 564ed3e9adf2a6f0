import Foundation

/// The thread a service's loop runs on, with the stop handshake every such service needs: `stop()` sets the flag,
/// wakes a `pause`, and returns once the loop has exited.
final class ServiceThread: @unchecked Sendable {
    private let name: String
    private let condition = NSCondition()
    private var stopping = false
    private var started = false
    private let exited = DispatchSemaphore(value: 0)

    init(name: String) { self.name = name }

    /// Runs `loop` on a new thread; the loop should return once `isStopping` (or a `pause`) says so.
    func start(_ loop: @escaping @Sendable () -> Void) {
        condition.lock()
        started = true
        condition.unlock()
        let thread = Thread { [exited] in
            loop()
            exited.signal()
        }
        thread.name = name
        thread.start()
    }

    var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Sleeps until `date` unless stopped first; false when stopping.
    @discardableResult
    func pause(until date: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !stopping { _ = condition.wait(until: date) }
        return !stopping
    }

    /// Asks the loop to end and waits for it (at once when it never started). `wake` nudges a loop that sleeps on
    /// something other than `pause`.
    func stop(wake: () -> Void = {}) {
        condition.lock()
        let running = started && !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        wake()
        if running { exited.wait() }
    }
}
