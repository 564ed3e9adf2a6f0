import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGTERM/SIGINT/SIGHUP into calls on a queue.
public final class SignalWatcher: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "pipelined.signals")

    public init() {}

    /// Installs handlers and returns only once they are armed: a Dispatch signal source is not armed right after
    /// `resume()`, and a signal arriving in that window would be lost (or kill the process with the default action).
    public func install(_ handlers: [Int32: @Sendable () -> Void]) {
        for (signo, handler) in handlers {
            var old = sigaction()
            sigaction(signo, nil, &old)
            // Only take over the default disposition; someone who ignores the signal on purpose keeps it ignored.
            if old.__sigaction_handler.sa_handler == nil {
                signal(signo, SIG_IGN)
            }
            let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
        // Dispatch arms a source by installing its own handler; wait until none of ours is SIG_IGN any more.
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            let armed = handlers.keys.allSatisfy { signo in
                var current = sigaction()
                sigaction(signo, nil, &current)
                return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) != unsafeBitCast(SIG_IGN, to: Int.self)
            }
            if armed { return }
            usleep(1000)
        }
    }
}
