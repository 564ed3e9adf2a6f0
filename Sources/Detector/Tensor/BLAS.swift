import COpenBLAS

/// Matrix products through OpenBLAS `cblas_sgemm`, row-major.
public enum BLAS {
    /// C (M,N) = alpha · op(A) · op(B) + beta · C, on raw row-major buffers with explicit leading dimensions.
    @inline(__always)
    public static func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C (M,N) = A (M,K) · op(B) + beta·C with the rows of A and C split into `BLASThreads.workers` tiles.
    public static func gemmRows(transB: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>,
                                ldc: Int) {
        let tiles = partition(m, parts: m * n * k < 1 << 18 ? 1 : BLASThreads.workers)
        parallelFor(tiles.count) { t in
            let r = tiles[t]
            gemm(transB: transB, m: r.count, n: n, k: k, a: a + r.lowerBound * lda, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c + r.lowerBound * ldc, ldc: ldc)
        }
    }

    /// C (M,N) = op(A) (M,K) · B (K,N) + beta·C with the columns of B and C split into `BLASThreads.workers` tiles
    /// (op(A) = Aᵀ when `transA`, A stored (K, M)).
    public static func gemmColumns(transA: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                                   b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let tiles = partition(n, parts: m * n * k < 1 << 18 ? 1 : BLASThreads.workers)
        parallelFor(tiles.count) { t in
            let r = tiles[t]
            gemm(transA: transA, m: m, n: r.count, k: k, a: a, lda: lda, b: b + r.lowerBound, ldb: ldb, beta: beta,
                 c: c + r.lowerBound, ldc: ldc)
        }
    }

    /// x (N, in) · Wᵀ + b, with W stored (out, in) as PyTorch's `nn.Linear` does, then `activation`. Each worker
    /// fills its tile of the output with the bias, multiplies into it and applies the activation while the tile is
    /// still in its cache (the output is never zero-filled first). `rows` uses only that block of W's rows and of b
    /// (one of q, k, v in a packed `in_proj_weight`), read in place.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, rows block: Range<Int>? = nil,
                              activation: Activation? = nil) -> Tensor {
        let inF = weight.shape[1], first = block?.lowerBound ?? 0, outF = block?.count ?? weight.shape[0]
        precondition(x.shape.last == inF, "linear: input \(x.shape) vs weight \(weight.shape)")
        precondition(first + outF <= weight.shape[0], "linear: rows \(first)..<\(first + outF) of \(weight.shape)")
        if let bias { precondition(bias.count == weight.shape[0]) }
        let n = x.count / inF
        let out = [Float](unsafeUninitializedCapacity: n * outF) { o, initialized in
            x.data.withUnsafeBufferPointer { xa in
                weight.data.withUnsafeBufferPointer { weights in
                    bias.withUnsafeOptionalPointer { biases in
                        let wa = weights.baseAddress! + first * inF, ba = biases.map { $0 + first }
                        let c = o.baseAddress!, small = n * outF * inF < 1 << 18
                        // Many rows: tiles of rows. Few rows (a short caption, the queries): tiles of output features.
                        let byRows = n >= 64
                        let tiles = partition(byRows ? n : outF, parts: small ? 1 : BLASThreads.workers)
                        parallelFor(tiles.count) { t in
                            let rows = byRows ? tiles[t] : 0..<n, columns = byRows ? 0..<outF : tiles[t]
                            let tile = c + rows.lowerBound * outF + columns.lowerBound
                            for r in 0..<rows.count {
                                if let b = ba {
                                    (tile + r * outF).update(from: b + columns.lowerBound, count: columns.count)
                                } else {
                                    (tile + r * outF).update(repeating: 0, count: columns.count)
                                }
                            }
                            gemm(transB: true, m: rows.count, n: columns.count, k: inF, a: xa.baseAddress! + rows.lowerBound * inF,
                                 lda: inF, b: wa + columns.lowerBound * inF, ldb: inF, beta: 1, c: tile, ldc: outF)
                            if let activation {
                                for r in 0..<rows.count { activation.apply(tile + r * outF, columns.count) }
                            }
                        }
                    }
                }
            }
            initialized = n * outF
        }
        return Tensor(shape: Array(x.shape.dropLast()) + [outF], data: out)
    }

    /// A (M,K) · B (K,N) for rank-2 tensors, optionally transposing either.
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2)
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let n = transB ? b.shape[0] : b.shape[1]
        precondition((transB ? b.shape[1] : b.shape[0]) == k, "matmul: \(a.shape) × \(b.shape)")
        var out = [Float](repeating: 0, count: m * n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: pa.baseAddress!, lda: a.shape[1],
                         b: pb.baseAddress!, ldb: b.shape[1], c: po.baseAddress!, ldc: n)
                }
            }
        }
        return Tensor(shape: [m, n], data: out)
    }
}
