/// PyTorch's `nn.MultiheadAttention`: packed q/k/v input projection (`in_proj_weight` (3E, E), each block used in
/// place), scaled dot-product attention per head with a key-padding mask (true = ignore that key), output
/// projection. One sequence at a time: query (Lq, E), key and value (Lk, E).
public struct MultiheadAttention<Value: NetworkValue> {
    public let inProjWeight: Value   // (3E, E): [Wq; Wk; Wv]
    public let inProjBias: Value     // (3E)
    public let outProj: Linear<Value>
    public let heads: Int

    public init(inProjWeight: Value, inProjBias: Value, outProj: Linear<Value>, heads: Int) {
        precondition(inProjWeight.shape[0] == 3 * inProjWeight.shape[1] && inProjWeight.shape[1] % heads == 0)
        self.inProjWeight = inProjWeight
        self.inProjBias = inProjBias
        self.outProj = outProj
        self.heads = heads
    }

    public var embed: Int { inProjWeight.shape[1] }

    /// Returns (Lq, E).
    public func callAsFunction(query: Value, key: Value, value: Value, keyPaddingMask: [Bool]? = nil) -> Value {
        let e = embed
        let q = query.linear(inProjWeight, inProjBias, rows: 0..<e, activation: nil)             // (Lq, E)
        let k = key.linear(inProjWeight, inProjBias, rows: e..<(2 * e), activation: nil)         // (Lk, E)
        let v = value.linear(inProjWeight, inProjBias, rows: (2 * e)..<(3 * e), activation: nil) // (Lk, E)
        return outProj(Value.attention(q: q, k: k, v: v, heads: heads, keyPaddingMask: keyPaddingMask))
    }
}

extension MultiheadAttention: Sendable where Value: Sendable {}
