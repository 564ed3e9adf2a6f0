import Dispatch
import Foundation

/// The scaled dot-product attention kernel behind `MultiheadAttention` (inference) and `Variable.attention`
/// (training): one sequence at a time, q (Lq, E), k and v (Lk, E), E = heads · d, key-padding mask true = ignore.
public enum AttentionKernel {
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
