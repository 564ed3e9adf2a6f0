/// A float32 tensor over contiguous row-major storage. Value semantics (copy on write through `[Float]`).
///
/// Legend used in shape comments across the Detector: B batch, C channels, H×W feature map, L text tokens,
/// Q queries, E embedding width.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "Tensor shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// The same values under another shape with the same number of elements.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            newShape[i] = count / known
        }
        return Tensor(shape: newShape, data: data)
    }

    /// Element at a multi-index (for tests and small lookups; kernels use raw buffers).
    public subscript(_ index: Int...) -> Float {
        get { data[flatIndex(index)] }
        set { data[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) != tensor rank \(shape.count)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of bounds for shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    /// Rows `range` of a rank-2 tensor (or of the first axis in general).
    public func slice(rows range: Range<Int>) -> Tensor {
        let inner = shape.dropFirst().reduce(1, *)
        return Tensor(shape: [range.count] + shape.dropFirst(), data: Array(data[(range.lowerBound * inner)..<(range.upperBound * inner)]))
    }

    /// Concatenates along the first axis.
    public static func concat(rows parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty)
        let tail = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == tail }, "concat shapes differ: \(parts.map(\.shape))")
        var out: [Float] = []
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts { out += p.data }
        return Tensor(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + tail, data: out)
    }

    /// Transpose of a rank-2 tensor.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs rank 2, got \(shape)")
        let r = shape[0], c = shape[1]
        var out = [Float](repeating: 0, count: count)
        data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<r { for j in 0..<c { dst[j * r + i] = src[i * c + j] } }
            }
        }
        return Tensor(shape: [c, r], data: out)
    }

    /// Largest absolute difference to `other` (same shape required) — the parity tests' measure.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}

extension Optional where Wrapped == Tensor {
    /// The tensor's storage, or nil when there is no tensor, for the duration of `body`.
    func withUnsafeOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let t = self else { return body(nil) }
        return t.data.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
