import Foundation
import Logging

/// A long-running part of the daemon, with the one start/stop protocol they all share: the daemon starts its
/// services in order and stops them in reverse within the shutdown budget — swift-service-lifecycle's
/// `ServiceGroup` pattern, on threads (the stages are synchronous code on Dispatch queues, and the inotify, claim and
/// training loops are blocking threads; the library's async `run()` would only wrap them).
public protocol DaemonService: AnyObject {
    var name: String { get }
    func start() throws
    /// Stops; whatever is still running at `deadline` is handed back as the service knows how (jobs released …).
    func stop(deadline: Date)
    /// A re-read configuration (SIGHUP): applies what this service can change while running, and returns the
    /// settings it was started with that changed but only a restart applies — named, never applied.
    func reload(_ config: Config) -> [String]
}

/// The daemon's services, started in order and stopped in reverse.
final class ServiceGroup {
    private var running: [any DaemonService] = []
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Starts `service` and keeps it for stopping; a service that fails to start is not kept (it cleans up itself).
    @discardableResult
    func start<S: DaemonService>(_ service: S) throws -> S {
        try service.start()
        running.append(service)
        logger.debug("service started", metadata: ["service": "\(service.name)"])
        return service
    }

    /// Stops every started service, the last started first, all by `budget` seconds from now.
    func stopAll(budget: Double) {
        let deadline = Date().addingTimeInterval(budget)
        for service in running.reversed() {
            service.stop(deadline: deadline)
            logger.debug("service stopped", metadata: ["service": "\(service.name)"])
        }
        running.removeAll()
    }

    /// Every service's answer to a re-read configuration: the restart-only settings that changed.
    func reload(_ config: Config) -> [String] { running.flatMap { $0.reload(config) } }
}

/// A component whose settings apply only when it starts: a reload that changes any of them is named, not applied.
public final class FixedService: DaemonService {
    public let name: String
    private let startBody: () throws -> Void
    private let stopBody: (Date) -> Void
    private let settings: (Config) -> [String: String]
    private let atStart: [String: String]

    /// - Parameter settings: the restart-only settings this component was built with, by their configuration
    ///   names, as text (compared on reload).
    public init(name: String, config: Config, settings: @escaping (Config) -> [String: String],
                start: @escaping () throws -> Void = {}, stop: @escaping (Date) -> Void) {
        self.name = name
        self.settings = settings
        atStart = settings(config)
        startBody = start
        stopBody = stop
    }

    public func start() throws { try startBody() }
    public func stop(deadline: Date) { stopBody(deadline) }

    public func reload(_ config: Config) -> [String] {
        let now = settings(config)
        return now.keys.sorted().filter { now[$0] != atStart[$0] }
    }
}
