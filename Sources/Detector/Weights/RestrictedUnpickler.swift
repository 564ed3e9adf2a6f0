/// A pickle reader that never executes anything: it understands the data opcodes and materializes only an
/// allow-list of globals (ordered dicts, PyTorch's tensor/parameter rebuild functions and storage types,
/// `argparse.Namespace`, plain containers). Any other global — `os.system`, `builtins.eval`, a user class — is
/// refused with `WeightsError.forbiddenGlobal` before anything could run, which is what makes loading a downloaded
/// checkpoint safe.
struct RestrictedUnpickler {
    private let bytes: [UInt8]
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Turns a persistent id (torch's storage tuple) into a value.
    private let persistentLoad: (PickleValue) throws -> PickleValue

    init(_ bytes: [UInt8], persistentLoad: @escaping (PickleValue) throws -> PickleValue) {
        self.bytes = bytes
        self.persistentLoad = persistentLoad
    }

    /// Where the next pickle starts, after `load()` (the legacy format stores several pickles back to back).
    var offset: Int { pos }

    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "builtins.dict", "builtins.list", "builtins.set", "builtins.frozenset",
        "builtins.tuple", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch.Size", "argparse.Namespace",
        "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
        "torch.BoolStorage", "torch.storage.UntypedStorage",
    ]

    mutating func load() throws -> PickleValue {
        while pos < bytes.count {
            let op = bytes[pos]
            pos += 1
            switch op {
            case 0x80: pos += 1                                       // PROTO
            case 0x95: pos += 8                                       // FRAME
            case 0x2E:                                                // STOP
                guard let top = stack.popLast() else { throw WeightsError.unsupportedPickle(detail: "STOP on empty stack") }
                return top
            case 0x4E: stack.append(.none)                            // NONE
            case 0x88: stack.append(.bool(true))                      // NEWTRUE
            case 0x89: stack.append(.bool(false))                     // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try le(4))))))  // BININT
            case 0x4B: stack.append(.int(try le(1)))                  // BININT1
            case 0x4D: stack.append(.int(try le(2)))                  // BININT2
            case 0x8A: stack.append(.int(try longBytes(try le(1))))   // LONG1
            case 0x8B: stack.append(.int(try longBytes(try le(4))))   // LONG4
            case 0x49:                                                // INT (text)
                let line = try readLine()
                if line == "00" { stack.append(.bool(false)) } else if line == "01" { stack.append(.bool(true)) } else {
                    guard let v = Int(line) else { throw WeightsError.unsupportedPickle(detail: "INT \(line)") }
                    stack.append(.int(v))
                }
            case 0x4C:                                                // LONG (text)
                var line = try readLine()
                if line.hasSuffix("L") { line.removeLast() }
                guard let v = Int(line) else { throw WeightsError.unsupportedPickle(detail: "LONG \(line)") }
                stack.append(.int(v))
            case 0x47:                                                // BINFLOAT (big-endian)
                let raw = try take(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x46: stack.append(.float(Double(try readLine()) ?? .nan))   // FLOAT (text)
            case 0x58: stack.append(.string(try utf8(try le(4))))    // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(try le(1))))    // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(try le(8))))    // BINUNICODE8
            case 0x54: stack.append(.string(try utf8(try le(4))))    // BINSTRING
            case 0x55: stack.append(.string(try utf8(try le(1))))    // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(try take(try le(4))))     // BINBYTES
            case 0x43: stack.append(.bytes(try take(try le(1))))     // SHORT_BINBYTES
            case 0x8E: stack.append(.bytes(try take(try le(8))))     // BINBYTES8
            case 0x56:                                                // UNICODE (raw-unicode-escape text)
                stack.append(.string(try readLine()))
            case 0x53:                                                // STRING (quoted text)
                var s = try readLine()
                if s.count >= 2, let f = s.first, f == "'" || f == "\"" { s = String(s.dropFirst().dropLast()) }
                stack.append(.string(s))
            case 0x5D: stack.append(.list(PickleList()))              // EMPTY_LIST
            case 0x7D: stack.append(.dict(PickleDict()))              // EMPTY_DICT
            case 0x29: stack.append(.tuple([]))                       // EMPTY_TUPLE
            case 0x8F: stack.append(.list(PickleList()))              // EMPTY_SET (kept as a list)
            case 0x28: marks.append(stack.count)                      // MARK
            case 0x74: stack.append(.tuple(try popMark()))            // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))              // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))      // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x6C:                                                // LIST
                let l = PickleList(); l.items = try popMark(); stack.append(.list(l))
            case 0x64:                                                // DICT
                let items = try popMark(), d = PickleDict()
                for i in stride(from: 0, to: items.count - 1, by: 2) { d.set(items[i], items[i + 1]) }
                stack.append(.dict(d))
            case 0x91:                                                // FROZENSET
                let l = PickleList(); l.items = try popMark(); stack.append(.list(l))
            case 0x61:                                                // APPEND
                let v = try pop()
                guard case let .list(l)? = stack.last else { throw WeightsError.unsupportedPickle(detail: "APPEND to non-list") }
                l.items.append(v)
            case 0x65, 0x90:                                          // APPENDS, ADDITEMS
                let items = try popMark()
                guard case let .list(l)? = stack.last else { throw WeightsError.unsupportedPickle(detail: "APPENDS to non-list") }
                l.items += items
            case 0x73:                                                // SETITEM
                let v = try pop(), k = try pop()
                guard case let .dict(d)? = stack.last else { throw WeightsError.unsupportedPickle(detail: "SETITEM on non-dict") }
                d.set(k, v)
            case 0x75:                                                // SETITEMS
                let items = try popMark()
                guard case let .dict(d)? = stack.last else { throw WeightsError.unsupportedPickle(detail: "SETITEMS on non-dict") }
                for i in stride(from: 0, to: items.count - 1, by: 2) { d.set(items[i], items[i + 1]) }
            case 0x71: memo[try le(1)] = try peek()                   // BINPUT
            case 0x72: memo[try le(4)] = try peek()                   // LONG_BINPUT
            case 0x70: memo[Int(try readLine()) ?? -1] = try peek()   // PUT
            case 0x94: memo[memo.count] = try peek()                  // MEMOIZE
            case 0x68: stack.append(try memoGet(try le(1)))           // BINGET
            case 0x6A: stack.append(try memoGet(try le(4)))           // LONG_BINGET
            case 0x67: stack.append(try memoGet(Int(try readLine()) ?? -1))  // GET
            case 0x30: _ = try pop()                                  // POP
            case 0x31: _ = try popMark()                              // POP_MARK
            case 0x32: stack.append(try peek())                       // DUP
            case 0x63:                                                // GLOBAL "module\nname\n"
                let module = try readLine(), name = try readLine()
                stack.append(try global(module, name))
            case 0x93:                                                // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.string, let n = name.string else {
                    throw WeightsError.unsupportedPickle(detail: "STACK_GLOBAL with non-string names")
                }
                stack.append(try global(m, n))
            case 0x51:                                                // BINPERSID
                stack.append(try persistentLoad(try pop()))
            case 0x52:                                                // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try call(callable, args))
            case 0x81:                                                // NEWOBJ
                let args = try pop(), cls = try pop()
                stack.append(try call(cls, args))
            case 0x62:                                                // BUILD
                let state = try pop()
                let target = try pop()
                stack.append(try build(target, state))
            default:
                throw WeightsError.unsupportedPickle(detail: String(format: "opcode 0x%02x at byte %d", op, pos - 1))
            }
        }
        throw WeightsError.unsupportedPickle(detail: "pickle ended without STOP")
    }

    // MARK: - Globals and calls (the allow-list)

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        guard Self.allowedGlobals.contains("\(module).\(name)") else {
            throw WeightsError.forbiddenGlobal(module: module, name: name)
        }
        return .global(module: module, name: name)
    }

    private func call(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case let .global(module, name) = callable, case let .tuple(a) = args else {
            throw WeightsError.unsupportedPickle(detail: "call of a non-global")
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict", "builtins.dict":
            return .dict(PickleDict())
        case "builtins.list", "builtins.set", "builtins.frozenset":
            let l = PickleList()
            if case let .list(src)? = a.first { l.items = src.items }
            if case let .tuple(src)? = a.first { l.items = src }
            return .list(l)
        case "builtins.tuple", "torch.Size":
            if case let .tuple(src)? = a.first { return .tuple(src) }
            if case let .list(src)? = a.first { return .tuple(src.items) }
            return .tuple([])
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard a.count >= 4, case let .storage(s) = a[0], let offset = a[1].int,
                  case let .tuple(size) = a[2], case let .tuple(stride) = a[3] else {
                throw WeightsError.unsupportedPickle(detail: "malformed _rebuild_tensor arguments")
            }
            let shape = try size.map { v -> Int in
                guard let i = v.int, i >= 0 else { throw WeightsError.unsupportedPickle(detail: "tensor size") }
                return i
            }
            let strides = try stride.map { v -> Int in
                guard let i = v.int, i >= 0 else { throw WeightsError.unsupportedPickle(detail: "tensor stride") }
                return i
            }
            guard shape.count == strides.count else { throw WeightsError.unsupportedPickle(detail: "tensor rank") }
            return .tensor(TensorRecord(storage: s, offset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter":
            guard let data = a.first else { throw WeightsError.unsupportedPickle(detail: "_rebuild_parameter") }
            return data
        case "argparse.Namespace":
            return .object(type: "argparse.Namespace", PickleDict())
        default:
            throw WeightsError.unsupportedPickle(detail: "\(module).\(name) cannot be called")
        }
    }

    private func build(_ target: PickleValue, _ state: PickleValue) throws -> PickleValue {
        switch (target, state) {
        case let (.object(_, fields), .dict(d)):
            for (k, v) in d.pairs { fields.set(k, v) }
            return target
        case (.dict, _), (.tensor, _), (.list, _):
            // OrderedDict/tensor state (e.g. _metadata, hooks) carries nothing the weights need.
            return target
        default:
            throw WeightsError.unsupportedPickle(detail: "BUILD on \(target)")
        }
    }

    // MARK: - Reading

    private mutating func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, pos + n <= bytes.count else { throw WeightsError.unsupportedPickle(detail: "pickle truncated") }
        defer { pos += n }
        return Array(bytes[pos..<(pos + n)])
    }

    private mutating func le(_ n: Int) throws -> Int {
        let raw = try take(n)
        var v = 0
        for (i, b) in raw.enumerated() { v |= Int(b) << (8 * i) }
        return v
    }

    private mutating func longBytes(_ n: Int) throws -> Int {
        let raw = try take(n)
        guard n <= 8 else { throw WeightsError.unsupportedPickle(detail: "integer of \(n) bytes") }
        if raw.isEmpty { return 0 }
        var v: UInt64 = 0
        for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        if raw.last! & 0x80 != 0 && n < 8 { v |= ~0 << (8 * UInt64(n)) }   // sign-extend
        return Int(bitPattern: UInt(v))
    }

    private mutating func utf8(_ n: Int) throws -> String { String(decoding: try take(n), as: UTF8.self) }

    private mutating func readLine() throws -> String {
        guard let end = bytes[pos...].firstIndex(of: 0x0A) else { throw WeightsError.unsupportedPickle(detail: "unterminated line") }
        defer { pos = end + 1 }
        return String(decoding: bytes[pos..<end], as: UTF8.self)
    }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw WeightsError.unsupportedPickle(detail: "stack underflow") }
        return v
    }

    private func peek() throws -> PickleValue {
        guard let v = stack.last else { throw WeightsError.unsupportedPickle(detail: "stack underflow") }
        return v
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw WeightsError.unsupportedPickle(detail: "mark underflow") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func memoGet(_ i: Int) throws -> PickleValue {
        guard let v = memo[i] else { throw WeightsError.unsupportedPickle(detail: "memo \(i) missing") }
        return v
    }
}
