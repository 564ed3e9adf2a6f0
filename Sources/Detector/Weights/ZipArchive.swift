import Foundation

/// A read-only view of a ZIP archive's stored (uncompressed) entries, as `torch.save` writes them. Supports ZIP64.
struct ZipArchive {
    let data: Data
    let path: String
    /// name → (offset of the entry's bytes, size, the CRC-32 the archive records for them)
    private(set) var entries: [String: (offset: Int, size: Int, crc: UInt32)] = [:]

    init(data: Data, path: String) throws {
        self.data = data
        self.path = path
        try readCentralDirectory()
    }

    static func isZip(_ data: Data) -> Bool { data.count >= 4 && data.prefix(4).elementsEqual([0x50, 0x4B, 0x03, 0x04]) }

    func bytes(_ name: String) throws -> Data {
        guard let e = entries[name] else { throw WeightsError.truncated(path: path, detail: "no entry \(name)") }
        return data.subdata(in: (data.startIndex + e.offset)..<(data.startIndex + e.offset + e.size))
    }

    /// Entries whose bytes do not match their recorded CRC-32: a damaged file.
    func damagedEntries() -> [String] {
        data.withUnsafeBytes { all in
            entries.filter { _, e in CRC32.checksum(UnsafeRawBufferPointer(rebasing: all[e.offset..<(e.offset + e.size)])) != e.crc }
                .map(\.key).sorted()
        }
    }

    private func u16(_ o: Int) -> Int { Int(data[data.startIndex + o]) | Int(data[data.startIndex + o + 1]) << 8 }
    private func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    private func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }

    private mutating func readCentralDirectory() throws {
        let n = data.count
        guard n >= 22 else { throw WeightsError.truncated(path: path, detail: "too short for a ZIP file") }
        var eocd = -1
        var i = n - 22
        while i >= max(0, n - 22 - 65_535) {
            if u32(i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw WeightsError.truncated(path: path, detail: "ZIP end-of-central-directory record not found") }
        var count = u16(eocd + 10)
        var dirOffset = u32(eocd + 16)
        if (count == 0xFFFF || dirOffset == 0xFFFF_FFFF), eocd >= 20, u32(eocd - 20) == 0x0706_4B50 {
            let z64 = u64(eocd - 20 + 8)
            guard z64 + 56 <= n, u32(z64) == 0x0606_4B50 else {
                throw WeightsError.truncated(path: path, detail: "bad ZIP64 end record")
            }
            count = u64(z64 + 32)
            dirOffset = u64(z64 + 48)
        }
        var p = dirOffset
        for _ in 0..<count {
            guard p + 46 <= n, u32(p) == 0x0201_4B50 else {
                throw WeightsError.truncated(path: path, detail: "bad ZIP central directory entry")
            }
            let method = u16(p + 10)
            var compressed = u32(p + 20)
            var uncompressed = u32(p + 24)
            let nameLen = u16(p + 28), extraLen = u16(p + 30), commentLen = u16(p + 32)
            var local = u32(p + 42)
            guard p + 46 + nameLen + extraLen <= n else { throw WeightsError.truncated(path: path, detail: "central directory") }
            let name = String(decoding: data[(data.startIndex + p + 46)..<(data.startIndex + p + 46 + nameLen)], as: UTF8.self)
            // ZIP64 extra field: the 8-byte values that overflowed, in order.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = u16(e), size = u16(e + 2)
                if id == 0x0001 {
                    var q = e + 4
                    if uncompressed == 0xFFFF_FFFF { uncompressed = u64(q); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = u64(q); q += 8 }
                    if local == 0xFFFF_FFFF { local = u64(q) }
                }
                e += 4 + size
            }
            guard method == 0, compressed == uncompressed else {
                throw WeightsError.notACheckpoint(path: path, reason: "entry \(name) is compressed (method \(method)); torch.save stores entries uncompressed")
            }
            guard local + 30 <= n, u32(local) == 0x0403_4B50 else {
                throw WeightsError.truncated(path: path, detail: "bad local header for \(name)")
            }
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            guard start + uncompressed <= n else {
                throw WeightsError.truncated(path: path, detail: "entry \(name) runs past the end of the file")
            }
            entries[name] = (start, uncompressed, UInt32(u32(p + 16)))
            p += 46 + nameLen + extraLen + commentLen
        }
    }
}
