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

    /// x (N, in) · Wᵀ + b with W stored (out, in), as `nn.Linear`.
    public func linear(_ weight: Variable, _ bias: Variable?) -> Variable {
        let inF = weight.shape[1], outF = weight.shape[0]
        precondition(shape.last == inF, "linear: input \(shape) vs weight \(weight.shape)")
        let x2 = Tensor(shape: [value.count / inF, inF], data: value.data)
        let out = BLAS.linear(x2, weight: weight.value, bias: bias?.value)   // (N, out)
        let xShape = shape
        let parents = bias.map { [self, weight, $0] } ?? [self, weight]
        return Variable(Tensor(shape: Array(xShape.dropLast()) + [outF], data: out.data), parents: parents) { [self] g in
            let g2 = Tensor(shape: [g.count / outF, outF], data: g.data)
            if requiresGrad { accumulate(Tensor(shape: xShape, data: BLAS.matmul(g2, weight.value).data)) }   // dy · W
            if weight.requiresGrad { weight.accumulate(BLAS.matmul(g2, x2, transA: true)) }                  // dyᵀ · x
            if let bias, bias.requiresGrad {
                var db = [Float](repeating: 0, count: outF)
                for i in g2.data.indices { db[i % outF] += g2.data[i] }
                bias.accumulate(Tensor(shape: [outF], data: db))
            }
        }
    }
}
