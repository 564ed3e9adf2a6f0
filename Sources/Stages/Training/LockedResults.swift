import Foundation

/// Results filled in by concurrent workers, one slot each.
public final class LockedResults<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = NSLock()
    public init(count: Int) { slots = Array(repeating: nil, count: count) }
    public func set(_ i: Int, _ value: Result<T, Error>) { lock.lock(); slots[i] = value; lock.unlock() }
    public func values() throws -> [T] { try slots.map { try $0!.get() } }
    public func values(at i: Int) throws -> T { try slots[i]!.get() }
}
