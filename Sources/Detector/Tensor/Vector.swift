/// Small pointer loops for the hot non-BLAS kernels, written so the compiler vectorizes them (contiguous unit-stride
/// indexing; measured: as fast as explicit SIMD16 code, which Swift lowers poorly for max/rounding).
enum Vector {
    /// dst[i] += alpha · src[i] for i in 0..<n.
    @inline(__always)
    static func axpy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ alpha: Float, _ n: Int) {
        for i in 0..<n { dst[i] += alpha * src[i] }
    }

    /// The largest of p[0..<n] (n > 0). Explicit 8-lane compare-and-select: a scalar `max` loop is not vectorized
    /// (its NaN rules forbid reordering), and softmax spends a third of its time here otherwise.
    @inline(__always)
    static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var best = -Float.infinity
        if n >= 8 {
            var lanes = SIMD8<Float>(repeating: -.infinity)
            while i + 8 <= n {
                let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                lanes.replace(with: v, where: v .> lanes)
                i += 8
            }
            best = lanes.max()
        }
        while i < n { if p[i] > best { best = p[i] }; i += 1 }
        return best
    }

    /// p[0] + … + p[n−1], in 8 lanes (a single scalar accumulator serializes the loop).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var lanes = SIMD8<Float>(repeating: 0)
        while i + 8 <= n {
            lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var total = lanes.sum()
        while i < n { total += p[i]; i += 1 }
        return total
    }

    /// Σ (p[i] − mean)², in 8 lanes (the biased variance's numerator, as LayerNorm computes it).
    @inline(__always)
    static func squaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from mean: Float) -> Float {
        var i = 0
        var lanes = SIMD8<Float>(repeating: 0)
        let m = SIMD8<Float>(repeating: mean)
        while i + 8 <= n {
            let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - m
            lanes += d * d
            i += 8
        }
        var total = lanes.sum()
        while i < n { total += (p[i] - mean) * (p[i] - mean); i += 1 }
        return total
    }

    /// p[i] *= s for i in 0..<n.
    @inline(__always)
    static func scale(_ p: UnsafeMutablePointer<Float>, _ s: Float, _ n: Int) {
        for i in 0..<n { p[i] *= s }
    }

    /// exp(x) as a branch-free polynomial (Cody–Waite reduction, degree-6 minimax polynomial, 2ⁿ through the
    /// exponent bits; relative error ≤ 2e-7, checked against `expf` in the tests). Unlike a call to glibc's `expf`,
    /// a loop over it vectorizes — softmax and SiLU spend most of their time here.
    @inline(__always)
    static func exp(_ value: Float) -> Float {
        let x = Swift.min(Swift.max(value, -87.33654), 88.72283)
        let t = x * 1.44269504088896341 + 12_582_912   // round(x·log2 e) in the low mantissa bits
        let k = t - 12_582_912
        var r = x - k * 0.693359375
        r = r - k * -2.12194440e-4
        var q: Float = 1.9875691500e-4
        q = q * r + 1.3981999507e-3
        q = q * r + 8.3334519073e-3
        q = q * r + 4.1665795894e-2
        q = q * r + 1.6666665459e-1
        q = q * r + 5.0000001201e-1
        q = q * r * r + r + 1
        return q * Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
    }

    /// p[i] = exp(p[i] − shift) in place; returns the sum. Sixteen lanes at a time, written out: the compiler
    /// vectorizes the plain loop at 8 lanes (LLVM prefers 256-bit vectors on these Xeons), and softmax — a third
    /// of attention's time — is this loop. The same operations as `exp`, so the same values.
    @inline(__always)
    static func expShifted(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        var i = 0
        var lanes = SIMD16<Float>(repeating: 0)
        let s = SIMD16<Float>(repeating: shift)
        while i + 16 <= n {
            let v = exp(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - s)
            UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD16<Float>.self)
            lanes += v
            i += 16
        }
        var total = lanes.sum()
        while i < n {
            p[i] = exp(p[i] - shift)
            total += p[i]
            i += 1
        }
        return total
    }

    /// `exp` on sixteen lanes.
    @inline(__always)
    static func exp(_ value: SIMD16<Float>) -> SIMD16<Float> {
        let low = SIMD16<Float>(repeating: -87.33654), high = SIMD16<Float>(repeating: 88.72283)
        var x = value.replacing(with: low, where: value .< low)
        x.replace(with: high, where: x .> high)
        let t = x * 1.44269504088896341 + 12_582_912
        let k = t - 12_582_912
        var r = x - k * 0.693359375
        r = r - k * -2.12194440e-4
        var q = SIMD16<Float>(repeating: 1.9875691500e-4)
        q = q * r + 1.3981999507e-3
        q = q * r + 8.3334519073e-3
        q = q * r + 4.1665795894e-2
        q = q * r + 1.6666665459e-1
        q = q * r + 5.0000001201e-1
        q = q * r * r + r + 1
        let bits = (unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return q * unsafeBitCast(bits, to: SIMD16<Float>.self)
    }

    /// p[i] = p[i]·σ(p[i]) in place.
    @inline(__always)
    static func silu(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = p[i] / (1 + exp(-p[i])) }
    }

    /// p[i] = σ(p[i]) in place.
    @inline(__always)
    static func sigmoid(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = 1 / (1 + exp(-p[i])) }
    }
}
