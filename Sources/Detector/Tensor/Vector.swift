/// Small pointer loops for the hot non-BLAS kernels, written so the compiler vectorizes them (contiguous unit-stride
/// indexing; measured: as fast as explicit SIMD16 code, which Swift lowers poorly for max/rounding).
enum Vector {
    /// dst[i] += alpha · src[i] for i in 0..<n.
    @inline(__always)
    static func axpy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ alpha: Float, _ n: Int) {
        for i in 0..<n { dst[i] += alpha * src[i] }
    }

    /// The largest of p[0..<n] (n > 0).
    @inline(__always)
    static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var best = -Float.infinity
        for i in 0..<n { best = Swift.max(best, p[i]) }
        return best
    }

    /// p[i] *= s for i in 0..<n.
    @inline(__always)
    static func scale(_ p: UnsafeMutablePointer<Float>, _ s: Float, _ n: Int) {
        for i in 0..<n { p[i] *= s }
    }
}
