/// DetCLIPv2's word-region alignment, for images that come with a caption and no boxes. Each caption phrase (the
/// mean of its tokens' alignment projections) is matched to its best-aligned region of an image (the decoder queries'
/// projections) — or, with `softWeighting`, to a softmax-weighted sum over regions; the image–text similarity is the
/// mean over phrases; an InfoNCE loss runs text → image across the batch (the caption's own image is the positive).
///
/// MDETR fuses text and image, so a region depends on the caption it was computed with: here every image's regions
/// come from its forward pass with its own caption, and are compared with every caption's phrases — B passes per
/// batch instead of B². (DetCLIPv2's encoders are separate, where the two coincide.)
public struct WordRegionAlignment {
    public var temperature: Float = 0.07
    public var softWeighting = false
    public init() {}

    /// One caption-only example: its image's regions (Q, d) and its phrases' token rows in the projected tokens.
    public struct Item {
        public var regions: Variable         // (Q, d) unit rows
        public var tokens: Variable          // (L, d) unit rows
        public var phraseTokens: [[Int]]     // per phrase, the token indices it covers
        public init(regions: Variable, tokens: Variable, phraseTokens: [[Int]]) {
            self.regions = regions
            self.tokens = tokens
            self.phraseTokens = phraseTokens
        }
    }

    /// Mean over captions of −log softmax_j(s(i, j) / τ)[i]; captions without phrases are skipped.
    public func loss(_ items: [Item]) -> Variable? {
        let usable = items.indices.filter { !items[$0].phraseTokens.filter { !$0.isEmpty }.isEmpty }
        guard usable.count >= 2 else { return nil }
        var rows: [Variable] = []
        for i in usable {
            let phrases = phraseEmbeddings(items[i])                                        // (P, d)
            let similarities = usable.map { j -> Variable in
                let s = Variable.matmul(phrases, items[j].regions, transposingB: true)     // (P, Q)
                let perPhrase = softWeighting ? softMax(s) : s.maxLastAxis()               // (P)
                return perPhrase.mean().reshaped([1, 1])
            }
            rows.append(Variable.concat(columns: similarities) * (1 / temperature))         // (1, B)
        }
        let logp = Variable.concat(rows: rows).logSoftmax()                                  // (B, B)
        var diagonal = Tensor(zeros: [usable.count, usable.count])
        for k in 0..<usable.count { diagonal.data[k * usable.count + k] = -1 / Float(usable.count) }
        return (logp * Variable(diagonal)).sum()
    }

    /// Phrase embeddings: the mean of each phrase's token projections, renormalized.
    func phraseEmbeddings(_ item: Item) -> Variable {
        let phrases = item.phraseTokens.filter { !$0.isEmpty }
        let l = item.tokens.shape[0]
        var weights = Tensor(zeros: [phrases.count, l])
        for (p, tokens) in phrases.enumerated() {
            let valid = tokens.filter { $0 < l }
            for t in valid { weights.data[p * l + t] = 1 / Float(max(valid.count, 1)) }
        }
        return Variable.matmul(Variable(weights), item.tokens).l2NormalizedRows()
    }

    /// Σ_q softmax_q(s / τ) · s per row: a soft maximum over regions.
    func softMax(_ s: Variable) -> Variable {
        let q = s.shape[1]
        let weights = (s * (1 / temperature)).softmax()
        return (weights * s).matmulOnes(q)
    }
}

extension Variable {
    /// Row sums of (N, C) as (N): x · 1.
    func matmulOnes(_ c: Int) -> Variable {
        Variable.matmul(self, Variable(Tensor(repeating: 1, shape: [c, 1]))).reshaped([value.count / c])
    }
}
