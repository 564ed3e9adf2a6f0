import Crypto
import Detector
import Foundation
import TestSupport

/// The files the end-to-end tests drop into an inbox, and how each is written.
struct Workload {
    enum Kind { case good, duplicate, broken }
    enum Method: CaseIterable { case direct, rename, slow }

    struct File {
        let name: String
        let bytes: Data
        let kind: Kind
        let method: Method
        var sha256: String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }
    }

    let files: [File]

    /// 160 distinct good images (some published by rename, some written slowly), 30 duplicates of them under other
    /// names, 10 distinct broken files: 200 files.
    static func standard(seed: Int = 0) -> Workload {
        var files: [File] = []
        let methods = Method.allCases
        for i in 0..<160 {
            files.append(File(name: "good-\(i).png", bytes: TinyPNG.sample(seed: seed * 10_000 + i), kind: .good,
                              method: methods[i % methods.count]))
        }
        for i in 0..<30 {
            let original = files[i * 5]
            files.append(File(name: "copy-\(i)-of-\(original.name)", bytes: original.bytes, kind: .duplicate,
                              method: methods[(i + 1) % methods.count]))
        }
        var broken: [Data] = []
        for i in 0..<5 {
            let png = TinyPNG.sample(seed: seed * 10_000 + 5_000 + i)
            broken.append(png.prefix(png.count / 2))          // truncated PNG
        }
        for i in 0..<3 {
            broken.append(Data((0..<2048).map { UInt8(truncatingIfNeeded: ($0 * 31 + i * 7 + seed) ^ ($0 >> 3)) }))
        }
        broken.append(Data())                                   // empty
        broken.append(Data("this is a text file, not a picture \(seed)\n".utf8))
        for (i, bytes) in broken.enumerated() {
            files.append(File(name: "broken-\(i).png", bytes: bytes, kind: .broken, method: methods[i % methods.count]))
        }
        // Interleave so every writer gets a mix.
        var rng = SplitMix64(seed: UInt64(seed + 1))
        return Workload(files: files.shuffled(using: &rng))
    }

    var goodSHAs: Set<String> { Set(files.filter { $0.kind != .broken }.map(\.sha256)) }
    var brokenSHAs: Set<String> { Set(files.filter { $0.kind == .broken }.map(\.sha256)) }

    /// Writes the files into `inbox` from `writers` threads. `progress` is called after each file.
    func write(into inbox: String, writers: Int, progress: @escaping @Sendable (Int) -> Void = { _ in }) {
        let counter = LockedBox(0)
        let slices = (0..<writers).map { w in stride(from: w, to: files.count, by: writers).map { files[$0] } }
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            for file in slices[w] {
                Self.write(file, into: inbox)
                progress(counter.mutate { $0 += 1; return $0 })
            }
        }
    }

    static func write(_ file: File, into inbox: String) {
        let final = inbox + "/" + file.name
        switch file.method {
        case .direct:
            FileManager.default.createFile(atPath: final, contents: file.bytes)
        case .rename:
            let partial = inbox + "/." + file.name + ".part"
            FileManager.default.createFile(atPath: partial, contents: file.bytes)
            rename(partial, final)
        case .slow:
            let fd = open(final, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            let bytes = [UInt8](file.bytes)
            let step = max(1, bytes.count / 4)
            var offset = 0
            while offset < bytes.count {
                let n = min(step, bytes.count - offset)
                _ = bytes[offset..<(offset + n)].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, n) }
                offset += n
                usleep(30_000)
            }
            close(fd)
        }
    }
}
