import Detector
import Foundation

/// Per-op throughput of the transformer's pieces at MDETR-R101 sizes (S = 862 tokens, d 256, 8 heads, FFN 2048): where
/// a forward's time goes, against the sgemm ceiling.
func transformerOpsBenchmark(_ args: [String]) {
    let s = args.first.flatMap { Int($0) } ?? 862, d = 256, f = 2048
    func random(_ shape: [Int]) -> Tensor {
        var t = Tensor(zeros: shape)
        for i in 0..<t.count { t.data[i] = Float((i &* 2654435761) % 1000) / 1000 - 0.5 }
        return t
    }
    let x = random([s, d]), h = random([s, f])
    let w1 = Linear(weight: random([f, d]), bias: random([f])), w2 = Linear(weight: random([d, f]), bias: random([d]))
    let wq = Linear(weight: random([d, d]), bias: random([d]))
    let attention = MultiheadAttention(inProjWeight: random([3 * d, d]), inProjBias: random([3 * d]), outProj: wq, heads: 8)
    let norm = LayerNorm(weight: random([d]), bias: random([d]), eps: 1e-5)
    func time(_ name: String, flop: Double, _ body: () -> Void) {
        body()
        var best = Double.infinity
        for _ in 0..<20 { let t = now(); body(); best = min(best, now() - t) }
        print(String(format: "%-28@ %8.3f ms %7.1f GFLOP/s", name as NSString, best * 1e3, flop / best / 1e9))
    }
    time("linear d→d", flop: 2.0 * Double(s * d * d)) { _ = wq(x) }
    time("linear d→ffn relu", flop: 2.0 * Double(s * d * f)) { _ = w1(x, activation: .relu) }
    time("linear ffn→d", flop: 2.0 * Double(s * d * f)) { _ = w2(h) }
    time("attend (8 heads)", flop: 4.0 * Double(s * s * d)) {
        _ = AttentionKernel.attend(q: x, k: x, v: x, heads: 8, keyPaddingMask: [Bool](repeating: false, count: s))
    }
    time("self-attention module", flop: 4.0 * Double(s * s * d) + 8.0 * Double(s * d * d)) {
        _ = attention(query: x, key: x, value: x, keyPaddingMask: [Bool](repeating: false, count: s))
    }
    time("layer norm", flop: 0) { _ = norm(x) }
    time("add", flop: 0) { _ = x + x }
}
