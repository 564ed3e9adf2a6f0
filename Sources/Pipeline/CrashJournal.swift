import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What this process is doing, kept in a file-backed shared mapping that outlives it: which jobs are in flight, in
/// which stage, whether one runs alone, and — written by a fatal-signal handler — the signal that killed it. The
/// next daemon on the state directory reads it to attribute a crash to the job that caused it instead of charging
/// every job that happened to be in flight.
///
/// Stores into a MAP_SHARED page reach the page cache at once: they survive the process (not a power cut, which
/// ends the jobs' leases anyway). Only plain stores happen in the signal handler, which is async-signal-safe.
public final class CrashJournal: @unchecked Sendable {
    /// One job in flight when the previous process ended.
    public struct Entry: Sendable, Equatable {
        public let jobID: Int
        public let stage: String
        public let isolated: Bool
    }

    /// What the previous process left: its worker identity, the fatal signal (0 when it died without one: SIGKILL,
    /// the OOM killer, a power cut) and its jobs in flight.
    public struct Record: Sendable, Equatable {
        public let owner: String
        public let pid: Int32
        public let signal: Int32
        public let inFlight: [Entry]
    }

    // Layout: header (magic, pid, signal, owner[116]) then `slots` × (jobID Int64, isolated UInt8, stage[23]).
    static let magic: UInt32 = 0x504C_4A31   // "PLJ1"
    static let headerSize = 128
    static let ownerBytes = 116
    static let slotSize = 32
    static let stageBytes = 23
    public static let slots = 256
    static let size = headerSize + slots * slotSize

    private let base: UnsafeMutableRawPointer
    private let lock = NSLock()

    /// Maps `path`, returns the previous process's record (if the file held one) and starts a fresh one for `owner`.
    public static func open(path: String, owner: String) throws -> (CrashJournal, previous: Record?) {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw JournalError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else { throw JournalError(path: path, reason: String(cString: strerror(errno))) }
        guard let map = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            throw JournalError(path: path, reason: String(cString: strerror(errno)))
        }
        let journal = CrashJournal(base: map)
        let previous = journal.read()
        journal.reset(owner: owner)
        return (journal, previous)
    }

    private init(base: UnsafeMutableRawPointer) {
        self.base = base
    }

    private func read() -> Record? {
        guard base.load(as: UInt32.self) == Self.magic else { return nil }
        let pid = base.load(fromByteOffset: 4, as: Int32.self)
        let signal = base.load(fromByteOffset: 8, as: Int32.self)
        let owner = string(at: 12, max: Self.ownerBytes)
        var entries: [Entry] = []
        for slot in 0..<Self.slots {
            let offset = Self.headerSize + slot * Self.slotSize
            let jobID = Int(base.load(fromByteOffset: offset, as: Int64.self))
            guard jobID > 0 else { continue }
            entries.append(Entry(jobID: jobID, stage: string(at: offset + 9, max: Self.stageBytes),
                                 isolated: base.load(fromByteOffset: offset + 8, as: UInt8.self) != 0))
        }
        return Record(owner: owner, pid: pid, signal: signal, inFlight: entries)
    }

    private func reset(owner: String) {
        memset(base, 0, Self.size)
        base.storeBytes(of: getpid(), toByteOffset: 4, as: Int32.self)
        write(owner, at: 12, max: Self.ownerBytes)
        base.storeBytes(of: Self.magic, as: UInt32.self)
    }

    /// A job starts (`stage` is its first stage); returns its slot, or nil when every slot is taken (the job then runs
    /// unjournalled: a crash is charged to it like to any job of an unknown record).
    public func begin(jobID: Int, stage: String, isolated: Bool) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        for slot in 0..<Self.slots {
            let offset = Self.headerSize + slot * Self.slotSize
            guard base.load(fromByteOffset: offset, as: Int64.self) == 0 else { continue }
            write(stage, at: offset + 9, max: Self.stageBytes)
            base.storeBytes(of: isolated ? 1 : 0, toByteOffset: offset + 8, as: UInt8.self)
            base.storeBytes(of: Int64(jobID), toByteOffset: offset, as: Int64.self)
            return slot
        }
        return nil
    }

    /// The job in `slot` enters `stage`.
    public func enter(slot: Int, stage: String) {
        lock.lock()
        defer { lock.unlock() }
        write(stage, at: Self.headerSize + slot * Self.slotSize + 9, max: Self.stageBytes)
    }

    /// The job in `slot` is finished (done, failed, returned): a later crash is not its doing.
    public func end(slot: Int) {
        lock.lock()
        defer { lock.unlock() }
        memset(base + Self.headerSize + slot * Self.slotSize, 0, Self.slotSize)
    }

    // MARK: - Fatal signals

    nonisolated(unsafe) private static var signalField: UnsafeMutablePointer<Int32>?

    /// Records SIGSEGV, SIGBUS, SIGILL (a Swift trap), SIGFPE, SIGABRT and SIGTRAP in the journal, then lets the
    /// signal kill the process as it would have (SA_RESETHAND: the default action runs when the fault repeats).
    public func recordFatalSignals() {
        Self.signalField = (base + 8).assumingMemoryBound(to: Int32.self)
        for signo in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signo in
                CrashJournal.signalField?.pointee = signo
                // A fault re-executes and now meets the default action; a signal sent by kill(2) needs re-raising.
                raise(signo)
            }
            action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND)) | Int32(SA_NODEFER)
            sigemptyset(&action.sa_mask)
            sigaction(signo, &action, nil)
        }
    }

    // MARK: - Bytes

    private func write(_ text: String, at offset: Int, max: Int) {
        let bytes = Array(text.utf8.prefix(max - 1))
        memset(base + offset, 0, max)
        bytes.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }

    private func string(at offset: Int, max: Int) -> String {
        let raw = UnsafeRawBufferPointer(start: base + offset, count: max)
        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The name of a signal for a reason a person reads ("SIGILL").
    public static func signalName(_ signo: Int32) -> String {
        [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGABRT: "SIGABRT",
         SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL"][signo] ?? "signal \(signo)"
    }
}

public struct JournalError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot use the crash journal \(path): \(reason)" }
}
