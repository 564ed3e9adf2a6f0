/// Moving values around: rows (first axis) and columns (last axis) of rank-2 views.
extension Variable {
    public func reshaped(_ newShape: [Int]) -> Variable {
        let old = shape
        return Variable(value.reshaped(newShape), parents: [self]) { [self] g in accumulate(Tensor(shape: old, data: g.data)) }
    }

    public func transposed() -> Variable {
        Variable(value.transposed(), parents: [self]) { [self] g in accumulate(g.transposed()) }
    }

    public static func concat(rows parts: [Variable]) -> Variable {
        Variable(Tensor.concat(rows: parts.map(\.value)), parents: parts) { g in
            var start = 0
            for p in parts {
                let n = p.value.count
                if p.requiresGrad { p.accumulate(Tensor(shape: p.shape, data: Array(g.data[start..<(start + n)]))) }
                start += n
            }
        }
    }

    public func slice(rows range: Range<Int>) -> Variable {
        let inner = value.count / shape[0]
        return Variable(value.slice(rows: range), parents: [self]) { [self] g in
            var d = [Float](repeating: 0, count: value.count)
            for i in 0..<g.count { d[range.lowerBound * inner + i] = g.data[i] }
            accumulate(Tensor(shape: shape, data: d))
        }
    }

    /// Columns `range` of (N, C): (N, range.count).
    public func slice(columns range: Range<Int>) -> Variable {
        let c = shape.last!, n = value.count / c, w = range.count
        var out = [Float](repeating: 0, count: n * w)
        for r in 0..<n { for j in 0..<w { out[r * w + j] = value.data[r * c + range.lowerBound + j] } }
        return Variable(Tensor(shape: [n, w], data: out), parents: [self]) { [self] g in
            var d = [Float](repeating: 0, count: value.count)
            for r in 0..<n { for j in 0..<w { d[r * c + range.lowerBound + j] = g.data[r * w + j] } }
            accumulate(Tensor(shape: shape, data: d))
        }
    }

    /// Side by side along the last axis: (N, Σ C_i).
    public static func concat(columns parts: [Variable]) -> Variable {
        let n = parts[0].value.count / parts[0].shape.last!
        let widths = parts.map { $0.shape.last! }
        let total = widths.reduce(0, +)
        var out = [Float](repeating: 0, count: n * total)
        var offset = 0
        for (p, w) in zip(parts, widths) {
            for r in 0..<n { for j in 0..<w { out[r * total + offset + j] = p.value.data[r * w + j] } }
            offset += w
        }
        return Variable(Tensor(shape: [n, total], data: out), parents: parts) { g in
            var offset = 0
            for (p, w) in zip(parts, widths) {
                if p.requiresGrad {
                    var d = [Float](repeating: 0, count: n * w)
                    for r in 0..<n { for j in 0..<w { d[r * w + j] = g.data[r * total + offset + j] } }
                    p.accumulate(Tensor(shape: p.shape, data: d))
                }
                offset += w
            }
        }
    }

    /// Rows `indices` of (N, C), repeats allowed (an embedding lookup, matched queries): (indices.count, C).
    public func gather(rows indices: [Int]) -> Variable {
        let c = value.count / shape[0]
        var out = [Float](repeating: 0, count: indices.count * c)
        for (k, i) in indices.enumerated() {
            precondition(i >= 0 && i < shape[0], "gather: row \(i) of \(shape[0])")
            for j in 0..<c { out[k * c + j] = value.data[i * c + j] }
        }
        return Variable(Tensor(shape: [indices.count, c], data: out), parents: [self]) { [self] g in
            var d = [Float](repeating: 0, count: value.count)
            for (k, i) in indices.enumerated() { for j in 0..<c { d[i * c + j] += g.data[k * c + j] } }
            accumulate(Tensor(shape: shape, data: d))
        }
    }
}
