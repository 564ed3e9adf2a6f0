import Foundation
import Dispatch

/// Padding of a convolution or pooling window.
public enum Padding: Sendable, Equatable {
    /// `k // 2`-style symmetric padding of `n` pixels on every side (PyTorch's `padding=n`).
    case symmetric(Int)
    /// TensorFlow "SAME": output ceil(in/stride), total padding max((ceil(i/s)−1)·s + k − i, 0), the odd pixel at the
    /// bottom/right (timm's `Conv2dSame`, the EfficientNet-Lite and TF-EfficientNet ports).
    case tfSame

    /// (before, after, output size) along one axis.
    func resolve(input: Int, kernel: Int, stride: Int) -> (Int, Int, Int) {
        switch self {
        case let .symmetric(p):
            return (p, p, (input + 2 * p - kernel) / stride + 1)
        case .tfSame:
            let out = (input + stride - 1) / stride
            let total = max((out - 1) * stride + kernel - input, 0)
            return (total / 2, total - total / 2, out)
        }
    }
}

/// A 2-D convolution on one image (C, H, W) → (O, Ho, Wo). Dense convolutions run as GEMM (1×1 directly,
/// larger kernels through im2col in row chunks so the column buffer stays small); depthwise convolutions run as a
/// direct loop per channel. Frozen batch-norm is folded into weight and bias at load time.
public struct Conv2D: Sendable {
    public var weight: Tensor     // (O, C/groups, kh, kw)
    public var bias: Tensor?      // (O)
    public let stride: Int
    public let padding: Padding
    public let groups: Int
    /// Set by `preparedForInference()` for 3×3 stride-1 convolutions with one pixel of padding.
    var winograd: WinogradWeights?

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding = .symmetric(0), groups: Int = 1) {
        precondition(weight.rank == 4, "conv weight must be (O, C/g, kh, kw), got \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    public var outChannels: Int { weight.shape[0] }

    /// Chooses the fastest algorithm once the weights are final (after batch-norm folding): Winograd F(2×2, 3×3)
    /// for dense 3×3 stride-1 convolutions with enough channels to amortize the transforms.
    public func preparedForInference() -> Conv2D {
        var copy = self
        if groups == 1 && kernel == (3, 3) && stride == 1 && padding == .symmetric(1) && weight.shape[1] >= 16
            && ProcessInfo.processInfo.environment["PIPELINED_NO_WINOGRAD"] == nil {
            copy.winograd = WinogradWeights(weight: weight)
        }
        return copy
    }
    public var kernel: (Int, Int) { (weight.shape[2], weight.shape[3]) }

    /// Folds y = (conv(x) − mean) · γ / √(var + eps) + β into the convolution.
    public mutating func foldBatchNorm(gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, eps: Float) {
        let o = outChannels, per = weight.count / o
        var b = bias?.data ?? [Float](repeating: 0, count: o)
        for c in 0..<o {
            let scale = gamma.data[c] / (variance.data[c] + eps).squareRoot()
            for i in 0..<per { weight.data[c * per + i] *= scale }
            b[c] = (b[c] - mean.data[c]) * scale + beta.data[c]
        }
        bias = Tensor(shape: [o], data: b)
    }

    /// The convolution followed by `activation`, applied in place on the fresh output (no extra pass allocation).
    public func callAsFunction(_ x: Tensor, activation: Activation) -> Tensor {
        var y = self(x)
        activation.apply(to: &y)
        return y
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 3, "conv input must be (C, H, W), got \(x.shape)")
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        let (kh, kw) = kernel
        let (pt, _, ho) = padding.resolve(input: h, kernel: kh, stride: stride)
        let (pl, _, wo) = padding.resolve(input: w, kernel: kw, stride: stride)
        precondition(c == weight.shape[1] * groups, "conv: input has \(c) channels, weight \(weight.shape) × groups \(groups)")
        if let winograd { return winograd.apply(x, bias: bias) }
        if groups == 1 {
            return dense(x, c: c, h: h, w: w, ho: ho, wo: wo, pt: pt, pl: pl)
        }
        precondition(groups == c && outChannels == c, "only dense and depthwise convolutions are supported")
        return depthwise(x, c: c, h: h, w: w, ho: ho, wo: wo, pt: pt, pl: pl)
    }

    /// The output buffer, holding the bias (the GEMM then accumulates onto it); filled by the workers.
    private func initialOutput(_ o: Int, _ spatial: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: o * spatial) { buffer, count in
            let base = buffer.baseAddress!
            let parts = partition(o, parts: o * spatial < 1 << 16 ? 1 : BLASThreads.workers)
            parallelFor(parts.count) { t in
                for ch in parts[t] {
                    (base + ch * spatial).initialize(repeating: bias?.data[ch] ?? 0, count: spatial)
                }
            }
            count = o * spatial
        }
    }

    private func dense(_ x: Tensor, c: Int, h: Int, w: Int, ho: Int, wo: Int, pt: Int, pl: Int) -> Tensor {
        let o = outChannels
        let (kh, kw) = kernel
        let k = c * kh * kw
        var out = initialOutput(o, ho * wo)
        let beta: Float = bias == nil ? 0 : 1
        if kh == 1 && kw == 1 && stride == 1 && pt == 0 && pl == 0 {
            // 1×1: W (O, C) · X (C, H·W).
            x.data.withUnsafeBufferPointer { xp in
                weight.data.withUnsafeBufferPointer { wp in
                    out.withUnsafeMutableBufferPointer { op in
                        BLAS.gemmColumns(m: o, n: ho * wo, k: c, a: wp.baseAddress!, lda: c, b: xp.baseAddress!,
                                         ldb: h * w, beta: beta, c: op.baseAddress!, ldc: ho * wo)
                    }
                }
            }
            return Tensor(shape: [o, ho, wo], data: out)
        }
        // im2col + GEMM over chunks of output rows, the chunks shared out among the workers; each worker owns a
        // column buffer (C·kh·kw, rows·Wo) of at most ~1 M floats, so it is still in cache when its GEMM reads it.
        let workers = BLASThreads.workers
        let rowsPerChunk = max(1, min((ho + workers - 1) / workers, (1 << 20) / max(1, k * wo)))
        let chunks = Swift.stride(from: 0, to: ho, by: rowsPerChunk).map { $0..<min(ho, $0 + rowsPerChunk) }
        let s = stride
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let src = xp.baseAddress!
                    parallelFor(min(workers, chunks.count)) { worker in
                        let col = UnsafeMutablePointer<Float>.allocate(capacity: k * rowsPerChunk * wo)
                        defer { col.deallocate() }
                        var index = worker
                        while index < chunks.count {
                            let rows = chunks[index]
                            let n = rows.count * wo
                            // One row of the column matrix per (channel, ky, kx).
                            for ch in 0..<c {
                                for ky in 0..<kh {
                                    for kx in 0..<kw {
                                        let dst = col + ((ch * kh + ky) * kw + kx) * n
                                        for (r, oy) in rows.enumerated() {
                                            let iy = oy * s - pt + ky
                                            let line = dst + r * wo
                                            if iy < 0 || iy >= h {
                                                line.update(repeating: 0, count: wo)
                                                continue
                                            }
                                            let srow = src + (ch * h + iy) * w
                                            if s == 1 {
                                                // Contiguous copy of the in-range part, zeros at the edges.
                                                let lo = max(0, pl - kx), hi = min(wo, w + pl - kx)
                                                if lo > 0 { line.update(repeating: 0, count: lo) }
                                                if hi > lo { (line + lo).update(from: srow + (lo - pl + kx), count: hi - lo) }
                                                let tail = max(hi, lo)
                                                if tail < wo { (line + tail).update(repeating: 0, count: wo - tail) }
                                            } else {
                                                for ox in 0..<wo {
                                                    let ix = ox * s - pl + kx
                                                    line[ox] = (ix >= 0 && ix < w) ? srow[ix] : 0
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            BLAS.gemm(m: o, n: n, k: k, a: wp.baseAddress!, lda: k, b: col, ldb: n, beta: beta,
                                      c: op.baseAddress! + rows.lowerBound * wo, ldc: ho * wo)
                            index += workers
                        }
                    }
                }
            }
        }
        return Tensor(shape: [o, ho, wo], data: out)
    }

    private func depthwise(_ x: Tensor, c: Int, h: Int, w: Int, ho: Int, wo: Int, pt: Int, pl: Int) -> Tensor {
        let (kh, kw) = kernel
        var out = initialOutput(c, ho * wo)
        let s = stride
        x.data.withUnsafeBufferPointer { xp in
            weight.data.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    let src = xp.baseAddress!, kern = wp.baseAddress!, dst = op.baseAddress!
                    parallelFor(c) { ch in
                        let plane = src + ch * h * w
                        let kc = kern + ch * kh * kw
                        let outPlane = dst + ch * ho * wo
                        if s <= 2 {
                            blocked(plane, kc, outPlane, bias: bias?.data[ch] ?? 0, h: h, w: w, ho: ho, wo: wo, pt: pt, pl: pl)
                            return
                        }
                        for oy in 0..<ho {
                            for ky in 0..<kh {
                                let iy = oy * s - pt + ky
                                if iy < 0 || iy >= h { continue }
                                let row = plane + iy * w
                                let orow = outPlane + oy * wo
                                for kx in 0..<kw {
                                    let wv = kc[ky * kw + kx]
                                    // Output columns whose input column is inside the image.
                                    let lo = max(0, (pl - kx + s - 1) / s)
                                    let hi = min(wo, (w - 1 + pl - kx) / s + 1)
                                    if lo >= hi { continue }
                                    var ix = lo * s - pl + kx
                                    for ox in lo..<hi {
                                        orow[ox] += wv * row[ix]
                                        ix += s
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [c, ho, wo], data: out)
    }

    /// One channel of a depthwise convolution of stride 1 or 2, 16 outputs at a time in registers. The plane is copied
    /// once into zero-padded buffers — for stride 2 one of its even and one of its odd columns — so every tap is an
    /// unaligned vector load with no border test, and each output is stored once (multiply-adding whole rows tap by
    /// tap stored every output k² times: 25 for Lite0's 5×5 blocks). Every output is written.
    private func blocked(_ plane: UnsafePointer<Float>, _ kc: UnsafePointer<Float>, _ outPlane: UnsafeMutablePointer<Float>, bias: Float,
                         h: Int, w: Int, ho: Int, wo: Int, pt: Int, pl: Int) {
        let (kh, kw) = kernel
        let s = stride, lanes = 16
        let chunks = (wo + lanes - 1) / lanes
        // Tap kx reads input column s·ox − pl + kx = s·(ox + o) + parity: column ox + o + left of plane `parity`.
        func split(_ kx: Int) -> (parity: Int, o: Int) {
            let parity = ((kx - pl) % s + s) % s
            return (parity, (kx - pl - parity) / s)
        }
        let offsets = (0..<kw).map { split($0).o }
        let left = max(0, -(offsets.min() ?? 0))
        let pitch = chunks * lanes + left + (offsets.max() ?? 0) + 1
        let rows = s * (ho - 1) + kh   // padded row r is input row r − pt
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: s * rows * pitch)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: s * rows * pitch)
        for parity in 0..<s {
            let padded = buffer + parity * rows * pitch
            // Buffer column j holds input column s·(j − left) + parity: columns left … last of it are inside.
            guard w - 1 - parity >= 0 else { continue }
            let last = min(pitch - 1, left + (w - 1 - parity) / s)
            for r in max(0, pt)..<min(rows, h + pt) {
                let source = plane + (r - pt) * w + parity, row = padded + r * pitch
                if s == 1 {
                    (row + left).update(from: source, count: last - left + 1)
                } else {
                    var from = source
                    for j in left...last { row[j] = from.pointee; from += 2 }
                }
            }
        }
        let taps = (0..<kw).map { kx -> Int in let (parity, o) = split(kx); return parity * rows * pitch + o + left }
        var tail = [Float](repeating: 0, count: lanes)
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
        @inline(__always) func store(_ acc: SIMD16<Float>, _ orow: UnsafeMutablePointer<Float>, _ ox: Int) {
            let n = min(lanes, wo - ox)
            if n == lanes {
                UnsafeMutableRawPointer(orow + ox).storeBytes(of: acc, as: SIMD16<Float>.self)
            } else {
                for i in 0..<n { tail[i] = acc[i] }
                (orow + ox).update(from: tail, count: n)
            }
        }
        for oy in 0..<ho {
            let orow = outPlane + oy * wo
            var chunk = 0
            // Four chunks at once: four independent multiply-add chains hide the FMA latency a single one waits on.
            while chunk + 4 <= chunks {
                let ox = chunk * lanes
                var a0 = SIMD16<Float>(repeating: bias), a1 = a0, a2 = a0, a3 = a0
                for ky in 0..<kh {
                    let row = buffer + (s * oy + ky) * pitch + ox
                    for kx in 0..<kw {
                        let p = row + taps[kx], wv = SIMD16<Float>(repeating: kc[ky * kw + kx])
                        a0.addProduct(load(p), wv)
                        a1.addProduct(load(p + lanes), wv)
                        a2.addProduct(load(p + 2 * lanes), wv)
                        a3.addProduct(load(p + 3 * lanes), wv)
                    }
                }
                store(a0, orow, ox)
                store(a1, orow, ox + lanes)
                store(a2, orow, ox + 2 * lanes)
                store(a3, orow, ox + 3 * lanes)
                chunk += 4
            }
            while chunk < chunks {
                // One chunk: a chain per kernel row (up to four), summed at the end, for the same reason.
                let ox = chunk * lanes
                var a = (SIMD16<Float>(repeating: bias), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
                for ky in 0..<kh {
                    let row = buffer + (s * oy + ky) * pitch + ox
                    var acc = SIMD16<Float>()
                    for kx in 0..<kw { acc.addProduct(load(row + taps[kx]), SIMD16<Float>(repeating: kc[ky * kw + kx])) }
                    switch ky & 3 {
                    case 0: a.0 += acc
                    case 1: a.1 += acc
                    case 2: a.2 += acc
                    default: a.3 += acc
                    }
                }
                store((a.0 + a.1) + (a.2 + a.3), orow, ox)
                chunk += 1
            }
        }
    }
}
