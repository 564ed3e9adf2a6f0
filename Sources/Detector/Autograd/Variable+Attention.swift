import Foundation

/// Scaled dot-product attention over heads, `nn.MultiheadAttention` semantics (the projections are separate `linear`
/// ops): q (Lq, E), k and v (Lk, E), E = heads · d; key-padding mask true = ignore that key.
extension Variable {
    public static func attention(q: Variable, k: Variable, v: Variable, heads: Int, keyPaddingMask: [Bool]? = nil) -> Variable {
        let lq = q.shape[0], lk = k.shape[0], e = q.shape[1], d = e / heads
        precondition(k.shape == [lk, e] && v.shape == [lk, e] && e % heads == 0, "attention: q \(q.shape) k \(k.shape) v \(v.shape)")
        let scale = 1 / Float(d).squareRoot()
        // The inference kernel, keeping the softmax rows (heads, Lq, Lk) for the backward pass.
        var probabilities = [Float](repeating: 0, count: heads * lq * lk)
        let out = probabilities.withUnsafeMutableBufferPointer { pp in
            AttentionKernel.attend(q: q.value, k: k.value, v: v.value, heads: heads, keyPaddingMask: keyPaddingMask,
                                      probabilities: pp.baseAddress!)
        }
        return Variable(out, parents: [q, k, v]) { g in
            // Scratch and results as raw buffers: BLAS writes into strided column blocks (one per head).
            let dq = UnsafeMutablePointer<Float>.allocate(capacity: lq * e), dk = UnsafeMutablePointer<Float>.allocate(capacity: lk * e)
            let dv = UnsafeMutablePointer<Float>.allocate(capacity: lk * e), ds = UnsafeMutablePointer<Float>.allocate(capacity: lq * lk)
            defer { dq.deallocate(); dk.deallocate(); dv.deallocate(); ds.deallocate() }
            g.data.withUnsafeBufferPointer { gp in
                q.value.data.withUnsafeBufferPointer { qp in
                    k.value.data.withUnsafeBufferPointer { kp in
                        v.value.data.withUnsafeBufferPointer { vp in
                            probabilities.withUnsafeBufferPointer { pp in
                                for h in 0..<heads {
                                    let p = pp.baseAddress! + h * lq * lk
                                    // dV_h = Pᵀ · dO_h;  dP = dO_h · V_hᵀ;  dS = P ⊙ (dP − rowsum(dP ⊙ P)).
                                    BLAS.gemm(transA: true, m: lk, n: d, k: lq, a: p, lda: lk, b: gp.baseAddress! + h * d, ldb: e,
                                              c: dv + h * d, ldc: e)
                                    BLAS.gemm(transB: true, m: lq, n: lk, k: d, a: gp.baseAddress! + h * d, lda: e,
                                              b: vp.baseAddress! + h * d, ldb: e, c: ds, ldc: lk)
                                    for r in 0..<lq {
                                        var dot: Float = 0
                                        for j in 0..<lk { dot += ds[r * lk + j] * p[r * lk + j] }
                                        for j in 0..<lk { ds[r * lk + j] = p[r * lk + j] * (ds[r * lk + j] - dot) * scale }
                                    }
                                    // dQ_h = dS · K_h;  dK_h = dSᵀ · Q_h  (the scale folded into dS).
                                    BLAS.gemm(m: lq, n: d, k: lk, a: ds, lda: lk, b: kp.baseAddress! + h * d, ldb: e,
                                              c: dq + h * d, ldc: e)
                                    BLAS.gemm(transA: true, m: lk, n: d, k: lq, a: ds, lda: lk, b: qp.baseAddress! + h * d,
                                              ldb: e, c: dk + h * d, ldc: e)
                                }
                            }
                        }
                    }
                }
            }
            q.accumulate(Tensor(shape: q.shape, data: Array(UnsafeBufferPointer(start: dq, count: lq * e))))
            k.accumulate(Tensor(shape: k.shape, data: Array(UnsafeBufferPointer(start: dk, count: lk * e))))
            v.accumulate(Tensor(shape: v.shape, data: Array(UnsafeBufferPointer(start: dv, count: lk * e))))
        }
    }
}
