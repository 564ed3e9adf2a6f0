import Foundation

/// Results filled in by concurrent workers, one slot each.
final class LockedResults<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<T, Error>) { lock.lock(); slots[i] = value; lock.unlock() }
    func values() throws -> [T] { try slots.map { try $0!.get() } }
    func values(at i: Int) throws -> T { try slots[i]!.get() }
}
