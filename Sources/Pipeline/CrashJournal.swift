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
    public struct Entry: Sendable, Equatable, Codable {
        public let jobID: Int
        public let stage: String
        public let isolated: Bool
        /// The thread running its current stage (pthread_self), to tell its crash from another thread's.
        public var thread: UInt64 = 0
    }

    /// What the previous process left: its worker identity, the fatal signal (0 when it died without one of its own
    /// making: SIGKILL, the OOM killer, a signal another process sent, a power cut), the thread it hit, and its jobs
    /// in flight.
    public struct Record: Sendable, Equatable, Codable {
        public let owner: String
        public let pid: Int32
        public let signal: Int32
        public var faultThread: UInt64 = 0
        public let inFlight: [Entry]
    }

    // Layout: header (magic, pid, signal, pad, fault thread, owner[104]) then `slots` × (jobID Int64, thread UInt64,
    // isolated UInt8, stage[15]).
    static let magic: UInt32 = 0x504C_4A32   // "PLJ2"
    static let headerSize = 128
    static let ownerOffset = 24
    static let ownerBytes = 104
    static let slotSize = 32
    static let stageBytes = 15
    public static let slots = 256
    static let size = headerSize + slots * slotSize

    private let base: UnsafeMutableRawPointer
    private let lock = NSLock()

    /// Maps `path` and starts a fresh record for `owner`. What the previous processes left is returned — the one in
    /// the mapping, and any not yet dealt with, kept in `path.pending` (JSON) until `recovered()` says they are in
    /// the database: a daemon that dies again before its recovery finishes loses nothing.
    public static func open(path: String, owner: String) throws -> (CrashJournal, previous: [Record]) {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw JournalError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else { throw JournalError(path: path, reason: String(cString: strerror(errno))) }
        guard let map = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            throw JournalError(path: path, reason: String(cString: strerror(errno)))
        }
        let journal = CrashJournal(base: map, pendingPath: path + ".pending")
        var previous = journal.pending()
        if let last = journal.read(), !last.inFlight.isEmpty { previous.append(last) }
        if !previous.isEmpty { try journal.keepPending(previous) }
        journal.reset(owner: owner)
        return (journal, previous)
    }

    private let pendingPath: String

    private init(base: UnsafeMutableRawPointer, pendingPath: String) {
        self.base = base
        self.pendingPath = pendingPath
    }

    private func pending() -> [Record] {
        guard let data = FileManager.default.contents(atPath: pendingPath) else { return [] }
        return (try? JSONDecoder().decode([Record].self, from: data)) ?? []
    }

    private func keepPending(_ records: [Record]) throws {
        do {
            try JSONEncoder().encode(records).write(to: URL(fileURLWithPath: pendingPath), options: .atomic)
        } catch {
            throw JournalError(path: pendingPath, reason: "\(error)")
        }
    }

    /// The records `open` returned are dealt with (their jobs returned or quarantined).
    public func recovered() {
        unlink(pendingPath)
    }

    private func read() -> Record? {
        guard base.load(as: UInt32.self) == Self.magic else { return nil }
        let pid = base.load(fromByteOffset: 4, as: Int32.self)
        let signal = base.load(fromByteOffset: 8, as: Int32.self)
        let faultThread = base.load(fromByteOffset: 16, as: UInt64.self)
        let owner = string(at: Self.ownerOffset, max: Self.ownerBytes)
        var entries: [Entry] = []
        for slot in 0..<Self.slots {
            let offset = Self.headerSize + slot * Self.slotSize
            let jobID = Int(base.load(fromByteOffset: offset, as: Int64.self))
            guard jobID > 0 else { continue }
            entries.append(Entry(jobID: jobID, stage: string(at: offset + 17, max: Self.stageBytes),
                                 isolated: base.load(fromByteOffset: offset + 16, as: UInt8.self) != 0,
                                 thread: base.load(fromByteOffset: offset + 8, as: UInt64.self)))
        }
        return Record(owner: owner, pid: pid, signal: signal, faultThread: faultThread, inFlight: entries)
    }

    private func reset(owner: String) {
        memset(base, 0, Self.size)
        base.storeBytes(of: getpid(), toByteOffset: 4, as: Int32.self)
        write(owner, at: Self.ownerOffset, max: Self.ownerBytes)
        base.storeBytes(of: Self.magic, as: UInt32.self)
    }

    /// A job starts (`stage` is its first stage); returns its slot, or nil when every slot is taken (the job then runs
    /// unjournalled, and a crash is charged to nobody).
    public func begin(jobID: Int, stage: String, isolated: Bool) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        for slot in 0..<Self.slots {
            let offset = Self.headerSize + slot * Self.slotSize
            guard base.load(fromByteOffset: offset, as: Int64.self) == 0 else { continue }
            write(stage, at: offset + 17, max: Self.stageBytes)
            base.storeBytes(of: isolated ? 1 : 0, toByteOffset: offset + 16, as: UInt8.self)
            base.storeBytes(of: 0, toByteOffset: offset + 8, as: UInt64.self)
            base.storeBytes(of: Int64(jobID), toByteOffset: offset, as: Int64.self)
            return slot
        }
        return nil
    }

    /// The job in `slot` enters `stage` on the calling thread.
    public func enter(slot: Int, stage: String) {
        lock.lock()
        defer { lock.unlock() }
        let offset = Self.headerSize + slot * Self.slotSize
        write(stage, at: offset + 17, max: Self.stageBytes)
        base.storeBytes(of: Self.currentThread(), toByteOffset: offset + 8, as: UInt64.self)
    }

    /// The job in `slot` is finished (done, failed, returned): a later crash is not its doing.
    public func end(slot: Int) {
        lock.lock()
        defer { lock.unlock() }
        memset(base + Self.headerSize + slot * Self.slotSize, 0, Self.slotSize)
    }

    static func currentThread() -> UInt64 { UInt64(UInt(bitPattern: Int(bitPattern: pthread_self()))) }

    // MARK: - Fatal signals

    nonisolated(unsafe) private static var signalField: UnsafeMutablePointer<Int32>?
    nonisolated(unsafe) private static var threadField: UnsafeMutablePointer<UInt64>?
    nonisolated(unsafe) private static var ownPID: pid_t = 0
    /// What handled each signal before (index: signal number); a plain pointer, read in the handler without Swift
    /// array machinery.
    nonisolated(unsafe) private static var previousActions: UnsafeMutablePointer<sigaction>?

    /// Records SIGSEGV, SIGBUS, SIGILL (a Swift trap), SIGFPE, SIGABRT and SIGTRAP — when the kernel raised them
    /// (a fault) or this process did (abort) — with the thread they hit, then hands the signal to whatever handled it
    /// before (the Swift runtime's backtracer, or the default action) so it ends the process as it would have. A
    /// signal another process sends (systemd's watchdog sends SIGABRT) is nobody's crash and is not recorded.
    public func recordFatalSignals() {
        Self.signalField = (base + 8).assumingMemoryBound(to: Int32.self)
        Self.threadField = (base + 16).assumingMemoryBound(to: UInt64.self)
        Self.ownPID = getpid()
        if Self.previousActions == nil {
            let table = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
            table.initialize(repeating: sigaction(), count: 65)
            Self.previousActions = table
        }
        // A parent may have left them blocked (Foundation's Process passes its thread's mask on): a sent SIGABRT
        // would then stay pending for ever instead of ending the process.
        var fatal = sigset_t()
        sigemptyset(&fatal)
        for signo in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { sigaddset(&fatal, signo) }
        pthread_sigmask(SIG_UNBLOCK, &fatal, nil)
        for signo in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = { signo, info, _ in
                let code = info?.pointee.si_code ?? 0
                let sender = info?.pointee._sifields._kill.si_pid ?? 0
                if code > 0 || sender == CrashJournal.ownPID {
                    CrashJournal.threadField?.pointee = CrashJournal.currentThread()
                    CrashJournal.signalField?.pointee = signo
                }
                // Only stores and sigaction/raise above and below: all async-signal-safe.
                if let previous = CrashJournal.previousActions { sigaction(signo, previous + Int(signo), nil) }
                raise(signo)
                // The Swift runtime's backtracer prints its report and returns (for a fault it expects the
                // instruction to fault again); a signal that was sent must still end the process.
                signal(signo, SIG_DFL)
                raise(signo)
            }
            action.sa_flags = Int32(SA_SIGINFO) | Int32(bitPattern: UInt32(SA_RESETHAND)) | Int32(SA_NODEFER)
            sigemptyset(&action.sa_mask)
            sigaction(signo, &action, Self.previousActions.map { $0 + Int(signo) })
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
