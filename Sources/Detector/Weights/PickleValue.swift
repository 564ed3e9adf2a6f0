/// What the restricted unpickler can produce. Lists and dicts are reference types because pickle mutates them
/// after they are memoized (APPENDS, SETITEMS, BUILD).
public indirect enum PickleValue: @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A class or function on the allow-list, before it is called.
    case global(module: String, name: String)
    /// A tensor's description; its bytes are read from the storage later.
    case tensor(TensorRecord)
    /// A storage reference from a persistent id.
    case storage(StorageRecord)
    /// An `argparse.Namespace` (or another allowed plain object): its attributes.
    case object(type: String, PickleDict)

    public var string: String? { if case let .string(s) = self { return s } else { return nil } }
    public var int: Int? {
        switch self {
        case let .int(i): return i
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case let .float(d): return d
        case let .int(i): return Double(i)
        default: return nil
        }
    }
    public var bool: Bool? {
        switch self {
        case let .bool(b): return b
        case let .int(i): return i != 0
        default: return nil
        }
    }

    /// Attribute or key lookup on dicts and objects.
    public subscript(key: String) -> PickleValue? {
        switch self {
        case let .dict(d), let .object(_, d): return d[key]
        default: return nil
        }
    }
}

public final class PickleList: @unchecked Sendable {
    public var items: [PickleValue] = []
}

public final class PickleDict: @unchecked Sendable {
    public var pairs: [(key: PickleValue, value: PickleValue)] = []

    public subscript(key: String) -> PickleValue? {
        pairs.first { $0.key.string == key }?.value
    }

    func set(_ key: PickleValue, _ value: PickleValue) {
        if let s = key.string, let i = pairs.firstIndex(where: { $0.key.string == s }) {
            pairs[i].value = value
        } else {
            pairs.append((key, value))
        }
    }
}

/// A storage named in a checkpoint: its key in the archive, element type and element count.
public struct StorageRecord: Sendable, Equatable {
    public let key: String
    public let dtype: String      // FloatStorage, HalfStorage, LongStorage …
    public let count: Int
}

/// A tensor view of a storage: `_rebuild_tensor_v2(storage, offset, size, stride, …)`.
public struct TensorRecord: Sendable, Equatable {
    public let storage: StorageRecord
    public let offset: Int
    public let shape: [Int]
    public let strides: [Int]
}
