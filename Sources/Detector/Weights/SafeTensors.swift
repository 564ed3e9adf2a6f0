import Foundation

/// A memory-mapped `.safetensors` file: an 8-byte little-endian header length, a JSON header naming every
/// tensor's dtype, shape and byte range, then the data.
public struct SafeTensors: WeightSource {
    public let path: String
    public let metadata: [String: String]
    public let keys: [String]
    private let data: Data
    private let entries: [String: (dtype: String, shape: [Int], begin: Int, end: Int)]
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw WeightsError.unreadable(path: path, reason: error.localizedDescription)
        }
        guard data.count >= 8 else { throw WeightsError.truncated(path: path, detail: "no safetensors header") }
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard headerLength > 0, headerLength <= 100_000_000, 8 + headerLength <= data.count else {
            throw WeightsError.notACheckpoint(path: path, reason: "safetensors header length \(headerLength) is impossible")
        }
        dataStart = 8 + headerLength
        let json: [String: Any]
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart)) as? [String: Any] ?? [:]
        } catch {
            throw WeightsError.notACheckpoint(path: path, reason: "safetensors header is not JSON")
        }
        var entries: [String: (String, [Int], Int, Int)] = [:]
        var order: [(Int, String)] = []
        var meta: [String: String] = [:]
        for (key, value) in json {
            if key == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { meta[k] = "\(v)" }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1], dataStart + offsets[1] <= data.count else {
                throw WeightsError.truncated(path: path, detail: "bad or out-of-range entry for \(key)")
            }
            guard let size = StorageDecoder.elementSize(dtype), shape.reduce(1, *) * size == offsets[1] - offsets[0] else {
                throw WeightsError.unsupportedDType(key: key, dtype: dtype)
            }
            entries[key] = (dtype, shape, offsets[0], offsets[1])
            order.append((offsets[0], key))
        }
        self.entries = entries
        self.keys = order.sorted { $0.0 < $1.0 }.map(\.1)
        self.metadata = meta
    }

    public func shape(of key: String) -> [Int]? { entries[key]?.shape }

    public func tensor(_ key: String) throws -> Tensor {
        guard let e = entries[key] else { throw WeightsError.keyMismatch(missing: [key], unexpected: [], misshapen: []) }
        let bytes = data.subdata(in: (dataStart + e.begin)..<(dataStart + e.end))
        let count = e.shape.reduce(1, *)
        return try StorageDecoder.materialize(key: key, bytes: bytes, dtype: e.dtype, storageCount: count, offset: 0,
                                              shape: e.shape, strides: StorageDecoder.contiguousStrides(e.shape), path: path)
    }

    /// Writes tensors as float32 safetensors, keys in the given order.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String], to path: String) throws {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for (key, t) in tensors {
            header[key] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + t.count * 4]]
            offset += t.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }   // keep the data 8-byte aligned
        var out = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, t) in tensors { t.data.withUnsafeBytes { out.append(contentsOf: $0) } }
        try out.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
