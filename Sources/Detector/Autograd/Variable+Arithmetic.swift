/// Elementwise arithmetic and reductions. Shapes: same-shape operands, or a row vector broadcast over rows.
extension Variable {
    public static func + (a: Variable, b: Variable) -> Variable {
        precondition(a.value.count == b.value.count, "add: \(a.shape) + \(b.shape)")
        var out = a.value
        for i in out.data.indices { out.data[i] += b.value.data[i] }
        return Variable(out, parents: [a, b]) { g in
            a.accumulate(Tensor(shape: a.shape, data: g.data))
            b.accumulate(Tensor(shape: b.shape, data: g.data))
        }
    }

    public static func - (a: Variable, b: Variable) -> Variable {
        precondition(a.value.count == b.value.count, "sub: \(a.shape) - \(b.shape)")
        var out = a.value
        for i in out.data.indices { out.data[i] -= b.value.data[i] }
        return Variable(out, parents: [a, b]) { g in
            a.accumulate(g)
            b.accumulate(Tensor(shape: b.shape, data: g.data.map { -$0 }))
        }
    }

    /// Elementwise product.
    public static func * (a: Variable, b: Variable) -> Variable {
        precondition(a.value.count == b.value.count, "mul: \(a.shape) * \(b.shape)")
        var out = a.value
        for i in out.data.indices { out.data[i] *= b.value.data[i] }
        return Variable(out, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulate(Tensor(shape: a.shape, data: zip(g.data, b.value.data).map { $0 * $1 })) }
            if b.requiresGrad { b.accumulate(Tensor(shape: b.shape, data: zip(g.data, a.value.data).map { $0 * $1 })) }
        }
    }

    public static func * (a: Variable, s: Float) -> Variable {
        Variable(Tensor(shape: a.shape, data: a.value.data.map { $0 * s }), parents: [a]) { g in
            a.accumulate(Tensor(shape: a.shape, data: g.data.map { $0 * s }))
        }
    }

    /// x (N, C) + b (C) on every row.
    public func addingRow(_ b: Variable) -> Variable {
        let c = b.value.count
        precondition(value.count % c == 0 && shape.last == c, "addingRow: \(shape) + \(b.shape)")
        var out = value
        for i in out.data.indices { out.data[i] += b.value.data[i % c] }
        return Variable(out, parents: [self, b]) { [self] g in
            accumulate(g)
            if b.requiresGrad {
                var db = [Float](repeating: 0, count: c)
                for i in g.data.indices { db[i % c] += g.data[i] }
                b.accumulate(Tensor(shape: b.shape, data: db))
            }
        }
    }

    /// Sum of all elements, shape [1].
    public func sum() -> Variable {
        Variable(Tensor(shape: [1], data: [value.data.reduce(0, +)]), parents: [self]) { [self] g in
            accumulate(Tensor(repeating: g.data[0], shape: shape))
        }
    }

    public func mean() -> Variable { sum() * (1 / Float(max(value.count, 1))) }

    /// Sum of several scalars (or same-shape values).
    public static func sum(_ xs: [Variable]) -> Variable {
        precondition(!xs.isEmpty)
        return xs.dropFirst().reduce(xs[0], +)
    }

    /// |x| elementwise (subgradient 0 at 0, as PyTorch).
    public func abs() -> Variable {
        Variable(Tensor(shape: shape, data: value.data.map { Swift.abs($0) }), parents: [self]) { [self] g in
            accumulate(Tensor(shape: shape, data: zip(g.data, value.data).map { $1 > 0 ? $0 : ($1 < 0 ? -$0 : 0) }))
        }
    }
}

/// Division and the piecewise ops boxes need, with PyTorch's gradient conventions at ties and at the clamp edge.
extension Variable {
    public static func / (a: Variable, b: Variable) -> Variable {
        precondition(a.value.count == b.value.count, "div: \(a.shape) / \(b.shape)")
        let y = Tensor(shape: a.shape, data: zip(a.value.data, b.value.data).map { $0 / $1 })
        return Variable(y, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulate(Tensor(shape: a.shape, data: zip(g.data, b.value.data).map { $0 / $1 })) }
            if b.requiresGrad {
                b.accumulate(Tensor(shape: b.shape, data: (0..<g.count).map { -g.data[$0] * y.data[$0] / b.value.data[$0] }))
            }
        }
    }

    /// Elementwise max; a tie sends half the gradient each way (`torch.maximum`).
    public static func maximum(_ a: Variable, _ b: Variable) -> Variable { extremum(a, b, larger: true) }
    /// Elementwise min; a tie sends half the gradient each way (`torch.minimum`).
    public static func minimum(_ a: Variable, _ b: Variable) -> Variable { extremum(a, b, larger: false) }

    private static func extremum(_ a: Variable, _ b: Variable, larger: Bool) -> Variable {
        precondition(a.value.count == b.value.count)
        let pick = zip(a.value.data, b.value.data).map { x, y -> Float in x == y ? 0.5 : ((x > y) == larger ? 1 : 0) }
        let y = Tensor(shape: a.shape, data: zip(a.value.data, b.value.data).map { larger ? Swift.max($0, $1) : Swift.min($0, $1) })
        return Variable(y, parents: [a, b]) { g in
            if a.requiresGrad { a.accumulate(Tensor(shape: a.shape, data: zip(g.data, pick).map { $0 * $1 })) }
            if b.requiresGrad { b.accumulate(Tensor(shape: b.shape, data: zip(g.data, pick).map { $0 * (1 - $1) })) }
        }
    }

    /// max(x, lower); the gradient passes where x ≥ lower (`torch.clamp(min:)`).
    public func clamped(min lower: Float) -> Variable {
        pointwise({ Swift.max($0, lower) }, derivative: { x, _ in x >= lower ? 1 : 0 })
    }
}
