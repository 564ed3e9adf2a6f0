/// Matrix products. A (M, K), B (K, N) or Bᵀ stored (N, K).
extension Variable {
    /// A · B, or A · Bᵀ with `transposingB`.
    public static func matmul(_ a: Variable, _ b: Variable, transposingB: Bool = false) -> Variable {
        let out = BLAS.matmul(a.value, b.value, transB: transposingB)   // (M, N)
        return Variable(out, parents: [a, b]) { g in
            // dA = dC · Bᵀ (or dC · B);  dB = Aᵀ · dC (or dCᵀ · A).
            if a.requiresGrad { a.accumulate(BLAS.matmul(g, b.value, transB: !transposingB)) }
            if b.requiresGrad {
                b.accumulate(transposingB ? BLAS.matmul(g, a.value, transA: true) : BLAS.matmul(a.value, g, transA: true))
            }
        }
    }

    /// x (N, in) · Wᵀ + b, with W stored (out, in), as `nn.Linear`; `rows` uses only that block of W's rows and of
    /// b (one of q, k, v in a packed `in_proj_weight`), and only that block receives gradient.
    public func linear(_ weight: Variable, _ bias: Variable?, rows block: Range<Int>? = nil) -> Variable {
        let inF = weight.shape[1], allOut = weight.shape[0]
        let block = block ?? 0..<allOut, outF = block.count
        precondition(shape.last == inF, "linear: input \(shape) vs weight \(weight.shape)")
        let x2 = Tensor(shape: [value.count / inF, inF], data: value.data)
        let out = BLAS.linear(x2, weight: weight.value, bias: bias?.value, rows: block)   // (N, out)
        let xShape = shape
        let parents = bias.map { [self, weight, $0] } ?? [self, weight]
        return Variable(Tensor(shape: Array(xShape.dropLast()) + [outF], data: out.data), parents: parents) { [self] g in
            let g2 = Tensor(shape: [g.count / outF, outF], data: g.data)
            let w = outF == allOut ? weight.value : weight.value.slice(rows: block)
            if requiresGrad { accumulate(Tensor(shape: xShape, data: BLAS.matmul(g2, w).data)) }   // dy · W
            if weight.requiresGrad {
                let dw = BLAS.matmul(g2, x2, transA: true)                                        // dyᵀ · x
                weight.accumulate(outF == allOut ? dw : Self.placed(dw, rows: block, of: weight.shape))
            }
            if let bias, bias.requiresGrad {
                var db = [Float](repeating: 0, count: outF)
                for i in g2.data.indices { db[i % outF] += g2.data[i] }
                let t = Tensor(shape: [outF], data: db)
                bias.accumulate(outF == allOut ? t : Self.placed(t, rows: block, of: bias.shape))
            }
        }
    }

    /// `part` as rows `block` of a zero tensor of `shape` (a gradient for one block of a packed parameter).
    static func placed(_ part: Tensor, rows block: Range<Int>, of shape: [Int]) -> Tensor {
        let inner = shape.dropFirst().reduce(1, *)
        var data = [Float](repeating: 0, count: shape.reduce(1, *))
        data.replaceSubrange((block.lowerBound * inner)..<(block.upperBound * inner), with: part.data)
        return Tensor(shape: shape, data: data)
    }
}
