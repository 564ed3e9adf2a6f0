import Dispatch
import Foundation

/// Multi-head scaled dot-product attention with PyTorch `nn.MultiheadAttention` semantics: packed q/k/v input
/// projection, q scaled by 1/√d, key-padding mask (true = ignore that key), output projection. One sequence at a
/// time: query (Lq, E), key and value (Lk, E).
public struct MultiheadAttention: Sendable {
    public let inProjWeight: Tensor   // (3E, E): [Wq; Wk; Wv]
    public let inProjBias: Tensor     // (3E)
    public let outProj: Linear        // (E, E)
    public let heads: Int
    let qProj: Linear, kProj: Linear, vProj: Linear   // the three row blocks of the packed projection

    public init(inProjWeight: Tensor, inProjBias: Tensor, outProj: Linear, heads: Int) {
        precondition(inProjWeight.shape[0] == 3 * inProjWeight.shape[1] && inProjWeight.shape[1] % heads == 0)
        self.inProjWeight = inProjWeight
        self.inProjBias = inProjBias
        self.outProj = outProj
        self.heads = heads
        let e = inProjWeight.shape[1]
        func part(_ i: Int) -> Linear {
            Linear(weight: inProjWeight.slice(rows: (i * e)..<((i + 1) * e)),
                   bias: Tensor(shape: [e], data: Array(inProjBias.data[(i * e)..<((i + 1) * e)])))
        }
        (qProj, kProj, vProj) = (part(0), part(1), part(2))
    }

    public var embed: Int { inProjWeight.shape[1] }

    /// Returns (Lq, E).
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: [Bool]? = nil) -> Tensor {
        let e = embed
        let q = qProj(query)   // (Lq, E)
        let k = kProj(key)     // (Lk, E)
        let v = vProj(value)   // (Lk, E)
        let context = Self.attend(q: q, k: k, v: v, heads: heads, keyPaddingMask: keyPaddingMask)
        precondition(context.shape == [query.shape[0], e])
        return outProj(context)
    }

    /// softmax(q_h k_hᵀ / √d + mask) v_h for every head h, heads side by side in the result (Lq, E). With
    /// `probabilities` (heads · Lq · Lk floats) the softmax rows are also written there, (heads, Lq, Lk), for the
    /// backward pass of training.
    public static func attend(q: Tensor, k: Tensor, v: Tensor, heads: Int, keyPaddingMask: [Bool]?,
                              probabilities: UnsafeMutablePointer<Float>? = nil) -> Tensor {
        let lq = q.shape[0], lk = k.shape[0], e = q.shape[1], d = e / heads
        if let keyPaddingMask { precondition(keyPaddingMask.count == lk, "mask \(keyPaddingMask.count) keys vs \(lk)") }
        let scale = 1 / Float(d).squareRoot()
        let maskedKeys = keyPaddingMask.map { mask in mask.indices.filter { mask[$0] } }
        let masked = maskedKeys?.isEmpty == false ? maskedKeys : nil
        var out = [Float](repeating: 0, count: lq * e)
        // Tiles of (head, block of query rows): a block's scores (rows × Lk) stay in the core's cache from the first
        // product through the softmax to the second; the workers take tiles in turn.
        let blockRows = 128
        let blocks = (lq + blockRows - 1) / blockRows
        let tiles = heads * blocks
        q.data.withUnsafeBufferPointer { qp in
            k.data.withUnsafeBufferPointer { kp in
                v.data.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        let qb = qp.baseAddress!, kb = kp.baseAddress!, vb = vp.baseAddress!, ob = op.baseAddress!
                        let workers = min(BLASThreads.workers, tiles)
                        parallelFor(workers) { worker in
                            let s = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * lk)   // (rows, Lk)
                            let inverseSums = UnsafeMutablePointer<Float>.allocate(capacity: blockRows)
                            defer { s.deallocate(); inverseSums.deallocate() }
                            var tile = worker
                            while tile < tiles {
                                let h = tile / blocks, r0 = (tile % blocks) * blockRows
                                let rows = min(blockRows, lq - r0)
                                BLAS.gemm(transB: true, m: rows, n: lk, k: d, alpha: scale, a: qb + r0 * e + h * d,
                                          lda: e, b: kb + h * d, ldb: e, c: s, ldc: lk)
                                for r in 0..<rows {
                                    let row = s + r * lk
                                    if let masked { for j in masked { row[j] = -.infinity } }
                                    let sum = Vector.expShifted(row, lk, shift: Vector.max(row, lk))
                                    if let probabilities {
                                        Vector.scale(row, 1 / sum, lk)
                                        probabilities.advanced(by: (h * lq + r0 + r) * lk).update(from: row, count: lk)
                                    } else {
                                        inverseSums[r] = 1 / sum
                                    }
                                }
                                let context = ob + r0 * e + h * d
                                BLAS.gemm(m: rows, n: d, k: lk, a: s, lda: lk, b: vb + h * d, ldb: e, c: context, ldc: e)
                                // Normalized after the product: d values per row instead of Lk.
                                if probabilities == nil {
                                    for r in 0..<rows { Vector.scale(context + r * e, inverseSums[r], d) }
                                }
                                tile += workers
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [lq, e], data: out)
    }
}
