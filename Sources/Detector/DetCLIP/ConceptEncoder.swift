import Foundation

/// DetCLIPv2's text side up to the projection: each concept ("name: definition", a phrase of a caption, a free-text
/// prompt) tokenized, run through the text encoder and mean-pooled over its tokens (CLS and SEP included, as
/// sentence-transformers pools MiniLM) — (K, text hidden). The projection to d_align is the network's
/// (`DetCLIPNetwork.concepts`). Pooled features are kept per text, so a vocabulary is encoded once.
public final class ConceptEncoder: @unchecked Sendable {
    let encoder: TextEncoder<Tensor>
    let tokenizer: any Tokenizer
    private var cache: [String: [Float]] = [:]
    private let lock = NSLock()
    /// Texts kept at most (a vocabulary of 10,000 concepts of width 384 is 15 MB).
    public var cacheLimit = 50_000

    public init(encoder: TextEncoder<Tensor>, tokenizer: any Tokenizer) {
        self.encoder = encoder
        self.tokenizer = tokenizer
    }

    public var width: Int { encoder.config.hidden }

    /// The token ids the encoder sees: the tokenizer's, cut to the encoder's limit (keeping the closing token).
    func ids(_ text: String) -> [Int] {
        var ids = tokenizer.encode(text).ids
        let limit = encoder.config.maxTokens
        if ids.count > limit, let last = ids.last { ids = Array(ids.prefix(limit - 1)) + [last] }
        return ids
    }

    /// Pooled features of each text, (K, hidden); texts are encoded one per core.
    public func pooled(_ texts: [String]) -> Tensor {
        let h = width
        lock.lock()
        var rows = texts.map { cache[$0] }
        lock.unlock()
        let missing = Array(Set(texts.indices.filter { rows[$0] == nil }.map { texts[$0] })).sorted()
        if !missing.isEmpty {
            var made = [[Float]](repeating: [], count: missing.count)
            let workers = max(1, min(BLASThreads.workers, missing.count))
            made.withUnsafeMutableBufferPointer { out in
                parallelFor(workers) { worker in
                    BLASThreads.serially {
                        for k in stride(from: worker, to: missing.count, by: workers) { out[k] = self.pool(missing[k]) }
                    }
                }
            }
            lock.lock()
            if cache.count + missing.count > cacheLimit { cache.removeAll() }
            for (text, row) in zip(missing, made) { cache[text] = row }
            lock.unlock()
            let byText = Dictionary(uniqueKeysWithValues: zip(missing, made))
            for i in rows.indices where rows[i] == nil { rows[i] = byText[texts[i]] }
        }
        return Tensor(shape: [texts.count, h], data: rows.flatMap { $0 ?? [Float](repeating: 0, count: h) })
    }

    /// Mean of the last hidden states over every token (summed in double precision).
    func pool(_ text: String) -> [Float] {
        let hidden = encoder(ids(text))                                           // (L, H)
        let (l, h) = (hidden.shape[0], hidden.shape[1])
        var sum = [Double](repeating: 0, count: h)
        for t in 0..<l { for j in 0..<h { sum[j] += Double(hidden.data[t * h + j]) } }
        return sum.map { Float($0 / Double(max(l, 1))) }
    }
}
