/// Winograd F(2×2, 3×3) for dense 3×3 stride-1 convolutions with one pixel of padding (every 3×3 convolution in a
/// ResNet body but the strided ones): each 2×2 block of outputs costs 16 multiplies per channel pair instead of 36,
/// done as 16 GEMMs (O × C)·(C × tiles). Transforms (Lavin & Gray 2015):
///   U = G g Gᵀ (weights, once at load), V = Bᵀ d B (4×4 input tiles), Y = Aᵀ (U ⊙ V) A (2×2 outputs).
/// The coefficients (0, ±1, ±½) keep the rounding error at the level of the direct method's.
struct WinogradWeights: Sendable {
    let u: [Float]     // (16, O, C): the transformed kernel for each of the 16 tile positions
    let outChannels: Int, inChannels: Int

    init(weight: Tensor) {
        let o = weight.shape[0], c = weight.shape[1]
        var u = [Float](repeating: 0, count: 16 * o * c)
        for oc in 0..<o {
            for ic in 0..<c {
                let g = (0..<9).map { weight.data[(oc * c + ic) * 9 + $0] }   // 3×3 row-major
                // t = G g (4×3), then U = t Gᵀ (4×4).
                var t = [Float](repeating: 0, count: 12)
                for j in 0..<3 {
                    let g0 = g[j], g1 = g[3 + j], g2 = g[6 + j]
                    t[j] = g0
                    t[3 + j] = 0.5 * (g0 + g1 + g2)
                    t[6 + j] = 0.5 * (g0 - g1 + g2)
                    t[9 + j] = g2
                }
                for i in 0..<4 {
                    let a = t[i * 3], b = t[i * 3 + 1], cc = t[i * 3 + 2]
                    let row = [a, 0.5 * (a + b + cc), 0.5 * (a - b + cc), cc]
                    for j in 0..<4 { u[((i * 4 + j) * o + oc) * c + ic] = row[j] }
                }
            }
        }
        self.u = u
        outChannels = o
        inChannels = c
    }

    /// x (C, H, W) → (O, H, W), bias added.
    func apply(_ x: Tensor, bias: Tensor?) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2], o = outChannels
        precondition(c == inChannels)
        let th = (h + 1) / 2, tw = (w + 1) / 2, tiles = th * tw
        var out = [Float](repeating: 0, count: o * h * w)
        let workers = BLASThreads.workers
        // Tiles in chunks small enough that a chunk's V (16·C·n) and M (16·O·n) stay in the last-level cache.
        let chunk = max(16, min((tiles + workers - 1) / workers, (1 << 22) / (16 * max(c, o))))
        let chunks = Swift.stride(from: 0, to: tiles, by: chunk).map { $0..<min(tiles, $0 + chunk) }
        x.data.withUnsafeBufferPointer { xp in
            u.withUnsafeBufferPointer { up in
                out.withUnsafeMutableBufferPointer { op in
                    let src = xp.baseAddress!, ub = up.baseAddress!, dst = op.baseAddress!
                    parallelFor(min(workers, chunks.count)) { worker in
                        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * chunk)   // (16, C, n)
                        let m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * chunk)   // (16, O, n)
                        defer { v.deallocate(); m.deallocate() }
                        var index = worker
                        while index < chunks.count {
                            let range = chunks[index]
                            let n = range.count
                            // V = Bᵀ d B for every channel and tile of the chunk (16 scalars per tile, no buffers).
                            let vStride = c * n
                            for ch in 0..<c {
                                let plane = src + ch * h * w
                                for (t, tile) in range.enumerated() {
                                    let y0 = (tile / tw) * 2 - 1, x0 = (tile % tw) * 2 - 1
                                    @inline(__always) func at(_ i: Int, _ j: Int) -> Float {
                                        let yy = y0 + i, xx = x0 + j
                                        return (yy >= 0 && yy < h && xx >= 0 && xx < w) ? plane[yy * w + xx] : 0
                                    }
                                    var d = (Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0),
                                             Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0), Float(0))
                                    if y0 >= 0 && y0 + 3 < h && x0 >= 0 && x0 + 3 < w {
                                        let p = plane + y0 * w + x0
                                        d = (p[0], p[1], p[2], p[3], p[w], p[w + 1], p[w + 2], p[w + 3],
                                             p[2 * w], p[2 * w + 1], p[2 * w + 2], p[2 * w + 3],
                                             p[3 * w], p[3 * w + 1], p[3 * w + 2], p[3 * w + 3])
                                    } else {
                                        d = (at(0, 0), at(0, 1), at(0, 2), at(0, 3), at(1, 0), at(1, 1), at(1, 2), at(1, 3),
                                             at(2, 0), at(2, 1), at(2, 2), at(2, 3), at(3, 0), at(3, 1), at(3, 2), at(3, 3))
                                    }
                                    // Bᵀ d, rows: d0 − d2, d1 + d2, d2 − d1, d1 − d3.
                                    let r00 = d.0 - d.8, r01 = d.1 - d.9, r02 = d.2 - d.10, r03 = d.3 - d.11
                                    let r10 = d.4 + d.8, r11 = d.5 + d.9, r12 = d.6 + d.10, r13 = d.7 + d.11
                                    let r20 = d.8 - d.4, r21 = d.9 - d.5, r22 = d.10 - d.6, r23 = d.11 - d.7
                                    let r30 = d.4 - d.12, r31 = d.5 - d.13, r32 = d.6 - d.14, r33 = d.7 - d.15
                                    // (Bᵀ d) B, the same on columns, stored at position ξ = 4i + j.
                                    let q = v + ch * n + t
                                    q[0] = r00 - r02; q[vStride] = r01 + r02; q[2 * vStride] = r02 - r01; q[3 * vStride] = r01 - r03
                                    q[4 * vStride] = r10 - r12; q[5 * vStride] = r11 + r12
                                    q[6 * vStride] = r12 - r11; q[7 * vStride] = r11 - r13
                                    q[8 * vStride] = r20 - r22; q[9 * vStride] = r21 + r22
                                    q[10 * vStride] = r22 - r21; q[11 * vStride] = r21 - r23
                                    q[12 * vStride] = r30 - r32; q[13 * vStride] = r31 + r32
                                    q[14 * vStride] = r32 - r31; q[15 * vStride] = r31 - r33
                                }
                            }
                            for xi in 0..<16 {
                                BLAS.gemm(m: o, n: n, k: c, a: ub + xi * o * c, lda: c, b: v + xi * c * n, ldb: n,
                                          c: m + xi * o * n, ldc: n)
                            }
                            // Y = Aᵀ M A, Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]], into the output with its bias.
                            let mStride = o * n
                            for oc in 0..<o {
                                let b = bias?.data[oc] ?? 0
                                let plane = dst + oc * h * w
                                for (t, tile) in range.enumerated() {
                                    let q = m + oc * n + t
                                    let m0 = q[0], m1 = q[mStride], m2 = q[2 * mStride], m3 = q[3 * mStride]
                                    let m4 = q[4 * mStride], m5 = q[5 * mStride], m6 = q[6 * mStride], m7 = q[7 * mStride]
                                    let m8 = q[8 * mStride], m9 = q[9 * mStride], m10 = q[10 * mStride], m11 = q[11 * mStride]
                                    let m12 = q[12 * mStride], m13 = q[13 * mStride], m14 = q[14 * mStride], m15 = q[15 * mStride]
                                    let s0 = m0 + m4 + m8, s1 = m1 + m5 + m9, s2 = m2 + m6 + m10, s3 = m3 + m7 + m11
                                    let s4 = m4 - m8 - m12, s5 = m5 - m9 - m13, s6 = m6 - m10 - m14, s7 = m7 - m11 - m15
                                    let y = (tile / tw) * 2, x = (tile % tw) * 2
                                    let row0 = plane + y * w + x
                                    row0[0] = s0 + s1 + s2 + b
                                    if x + 1 < w { row0[1] = s1 - s2 - s3 + b }
                                    if y + 1 < h {
                                        let row1 = row0 + w
                                        row1[0] = s4 + s5 + s6 + b
                                        if x + 1 < w { row1[1] = s5 - s6 - s7 + b }
                                    }
                                }
                            }
                            index += workers
                        }
                    }
                }
            }
        }
        return Tensor(shape: [o, h, w], data: out)
    }
}
