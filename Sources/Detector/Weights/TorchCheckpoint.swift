import Foundation

/// A `torch.save` file read without Python: the zip container (`<name>/data.pkl` + `<name>/data/<key>`) or the
/// legacy format (magic, protocol and sys-info pickles, the object pickle, the storage key list, then each storage
/// as an int64 element count and raw bytes). Objects come from `RestrictedUnpickler`, so nothing in the file runs.
public struct TorchCheckpoint: Sendable {
    public let path: String
    /// The unpickled top-level object.
    public let root: PickleValue
    private let storages: [String: Data]

    public init(path: String) throws {
        self.path = path
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw WeightsError.unreadable(path: path, reason: error.localizedDescription)
        }
        if ZipArchive.isZip(data) {
            (root, storages) = try Self.loadZip(data, path: path)
        } else if data.starts(with: [0x80, 0x02, 0x8A, 0x0A]) {
            (root, storages) = try Self.loadLegacy(data, path: path)
        } else {
            throw WeightsError.notACheckpoint(path: path, reason: "neither a torch zip archive nor a legacy torch file")
        }
    }

    /// Checks what the file itself can vouch for: every entry of a zip checkpoint against its CRC-32. (The legacy
    /// format records no checksum.) A flipped bit in a tensor would otherwise load as a wrong weight.
    public static func verifyIntegrity(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw WeightsError.unreadable(path: path, reason: error.localizedDescription)
        }
        guard ZipArchive.isZip(data) else { return }
        let damaged = try ZipArchive(data: data, path: path).damagedEntries()
        guard damaged.isEmpty else {
            throw WeightsError.truncated(path: path, detail: "\(damaged.count) entr\(damaged.count == 1 ? "y fails" : "ies fail") the CRC-32 the archive records (\(damaged.prefix(3).joined(separator: ", ")))")
        }
    }

    private static func storageRecord(_ pid: PickleValue) throws -> StorageRecord {
        guard case let .tuple(t) = pid, t.count >= 5, t[0].string == "storage",
              case let .global(_, typeName) = t[1], let key = t[2].string, let count = t[4].int, count >= 0 else {
            throw WeightsError.unsupportedPickle(detail: "persistent id is not a torch storage")
        }
        return StorageRecord(key: key, dtype: typeName, count: count)
    }

    private static func loadZip(_ data: Data, path: String) throws -> (PickleValue, [String: Data]) {
        let zip = try ZipArchive(data: data, path: path)
        guard let pkl = zip.entries.keys.first(where: { $0.hasSuffix("/data.pkl") || $0 == "data.pkl" }) else {
            throw WeightsError.notACheckpoint(path: path, reason: "zip archive without data.pkl")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        var unpickler = RestrictedUnpickler([UInt8](try zip.bytes(pkl))) { pid in .storage(try storageRecord(pid)) }
        let root = try unpickler.load()
        var storages: [String: Data] = [:]
        for name in zip.entries.keys where name.hasPrefix(prefix + "data/") {
            storages[String(name.dropFirst(prefix.count + 5))] = try zip.bytes(name)
        }
        return (root, storages)
    }

    private static func loadLegacy(_ data: Data, path: String) throws -> (PickleValue, [String: Data]) {
        let bytes = [UInt8](data)
        // Magic number pickle: PROTO 2, LONG1 of 10 bytes (0x1950a86a20f9469cfc6c), STOP.
        let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
        guard bytes.count > 17, Array(bytes[4..<14]) == magic, bytes[14] == 0x2E else {
            throw WeightsError.notACheckpoint(path: path, reason: "legacy torch magic number missing")
        }
        var offset = 15
        func next(_ persistent: @escaping (PickleValue) throws -> PickleValue = { _ in
            throw WeightsError.unsupportedPickle(detail: "unexpected persistent id")
        }) throws -> PickleValue {
            guard offset < bytes.count else { throw WeightsError.truncated(path: path, detail: "ends before all pickles") }
            var u = RestrictedUnpickler(Array(bytes[offset...]), persistentLoad: persistent)
            let v = try u.load()
            offset += u.offset
            return v
        }
        guard try next().int == 1001 else { throw WeightsError.notACheckpoint(path: path, reason: "unknown legacy protocol") }
        let sysInfo = try next()
        if sysInfo["little_endian"]?.bool == false {
            throw WeightsError.notACheckpoint(path: path, reason: "big-endian checkpoints are not supported")
        }
        var records: [String: StorageRecord] = [:]
        let root = try next { pid in
            let r = try storageRecord(pid)
            records[r.key] = r
            return .storage(r)
        }
        guard case let .list(keyList) = try next() else {
            throw WeightsError.truncated(path: path, detail: "storage key list missing")
        }
        var storages: [String: Data] = [:]
        for item in keyList.items {
            guard let key = item.string, let record = records[key],
                  let size = StorageDecoder.elementSize(record.dtype) else {
                throw WeightsError.unsupportedPickle(detail: "storage list names an unknown storage")
            }
            guard offset + 8 <= bytes.count else { throw WeightsError.truncated(path: path, detail: "storage \(key) header") }
            let count = (0..<8).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
            offset += 8
            guard count >= 0, offset + count * size <= bytes.count else {
                throw WeightsError.truncated(path: path, detail: "storage \(key) needs \(count * size) bytes")
            }
            storages[key] = data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + count * size))
            offset += count * size
        }
        return (root, storages)
    }

    /// The model weights: `model_ema` when present and not None (every published MDETR number is an EMA
    /// evaluation), else `model`, else `state_dict`, else the root itself when it is a state dict.
    public func stateDict(preferEMA: Bool = true) throws -> CheckpointStateDict {
        var candidates = ["model", "state_dict"]
        if preferEMA { candidates.insert("model_ema", at: 0) }
        for name in candidates {
            if case let .dict(d)? = root[name] { return try CheckpointStateDict(checkpoint: self, dict: d, source: name) }
        }
        if case let .dict(d) = root { return try CheckpointStateDict(checkpoint: self, dict: d, source: "root") }
        throw WeightsError.notACheckpoint(path: path, reason: "no state dict (model_ema, model, state_dict) found")
    }

    /// The training arguments (`args`, an `argparse.Namespace`), when saved.
    public var args: PickleValue? { root["args"] }

    func tensor(_ record: TensorRecord, key: String) throws -> Tensor {
        guard let bytes = storages[record.storage.key] else {
            throw WeightsError.truncated(path: path, detail: "storage \(record.storage.key) of \(key) is missing")
        }
        return try StorageDecoder.materialize(key: key, bytes: bytes, dtype: record.storage.dtype,
                                              storageCount: record.storage.count, offset: record.offset,
                                              shape: record.shape, strides: record.strides, path: path)
    }
}

/// One state dict of a checkpoint as a `WeightSource`.
public struct CheckpointStateDict: WeightSource {
    public let source: String
    public let keys: [String]
    private let checkpoint: TorchCheckpoint
    private let records: [String: TensorRecord]

    init(checkpoint: TorchCheckpoint, dict: PickleDict, source: String) throws {
        self.checkpoint = checkpoint
        self.source = source
        var keys: [String] = []
        var records: [String: TensorRecord] = [:]
        for (k, v) in dict.pairs {
            guard let key = k.string else { continue }
            guard case let .tensor(record) = v else { continue }
            keys.append(key)
            records[key] = record
        }
        self.keys = keys
        self.records = records
    }

    public func shape(of key: String) -> [Int]? { records[key]?.shape }

    public func tensor(_ key: String) throws -> Tensor {
        guard let r = records[key] else { throw WeightsError.keyMismatch(missing: [key], unexpected: [], misshapen: []) }
        return try checkpoint.tensor(r, key: key)
    }
}
