import Foundation

/// A vocabulary's text, encoded once for a strategy: each category's own prompt (for strategies that ask categories
/// one by one) and the packed captions (for strategies that pack). Reused for every image; kept in a
/// `TextFeatureStore` across restarts under `key`.
public struct EncodedVocabulary: Sendable {
    /// Hex SHA-256 of what the encoding depends on (model, tokenizer, vocabulary version and prompts, strategy).
    public let key: String
    public let categories: [CategoryPrompt]
    /// Per category, in vocabulary order, when the strategy asks categories exactly; else empty.
    public let prompts: [TextFeatures]
    /// The packed captions and their encodings, when the strategy packs; else empty.
    public let packs: [PackedPrompt]
    public let packFeatures: [TextFeatures]
    /// Whether this call read it from the store (false: encoded now, or found in memory).
    public let fromStore: Bool

    /// Every encoding in storage order: prompts, then packs.
    var matrices: [TextFeatures] { prompts + packFeatures }
}

/// The stored form: a magic line, the key, the matrices' shapes, their float32 values, a CRC-32 over all of it.
/// Anything that does not parse, check or fit what is expected is ignored (the text is encoded again).
enum TextFeatureFile {
    static let magic = Array("pipelined text features 1\n".utf8)
    /// Far above any real vocabulary; bounds what a damaged header can ask to allocate.
    static let maxMatrices = 1 << 20, maxRows = 1 << 12, maxColumns = 1 << 14

    static func encode(key: String, matrices: [Tensor]) -> Data {
        var out = [UInt8]()
        out += magic
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out += $0 } }
        let keyBytes = Array(key.utf8)
        u32(keyBytes.count)
        out += keyBytes
        u32(matrices.count)
        u32(matrices.first?.shape[1] ?? 0)
        for m in matrices { u32(m.shape[0]) }
        for m in matrices { m.data.withUnsafeBytes { out += $0 } }   // little-endian hosts only (x86-64, arm64)
        let crc = out.withUnsafeBytes { CRC32.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { out += $0 }
        return Data(out)
    }

    /// The matrices stored under `key` with `rows` rows each and `columns` columns, or nil.
    static func decode(_ data: Data, key: String, rows expected: [Int], columns: Int) -> [Tensor]? {
        let bytes = [UInt8](data)
        guard bytes.count >= magic.count + 16, Array(bytes[0..<magic.count]) == magic else { return nil }
        let body = bytes.count - 4
        let storedCRC = bytes[body..<bytes.count].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
        guard bytes.withUnsafeBytes({ CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }) == storedCRC else { return nil }
        var at = magic.count
        func u32() -> Int? {
            guard at + 4 <= body else { return nil }
            defer { at += 4 }
            return (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
        }
        guard let keyLength = u32(), keyLength <= 256, at + keyLength <= body,
              String(decoding: bytes[at..<(at + keyLength)], as: UTF8.self) == key else { return nil }
        at += keyLength
        guard let count = u32(), count == expected.count, count <= maxMatrices, let d = u32(), d == columns, d <= maxColumns
        else { return nil }
        var rows: [Int] = []
        for r in expected {
            guard let stored = u32(), stored == r, r <= maxRows else { return nil }
            rows.append(stored)
        }
        guard body - at == rows.reduce(0, +) * d * 4 else { return nil }
        var out: [Tensor] = []
        for r in rows {
            var values = [Float](repeating: 0, count: r * d)
            values.withUnsafeMutableBytes { $0.copyBytes(from: bytes[at..<(at + r * d * 4)]) }
            at += r * d * 4
            guard values.allSatisfy(\.isFinite) else { return nil }
            out.append(Tensor(shape: [r, d], data: values))
        }
        return out
    }
}
