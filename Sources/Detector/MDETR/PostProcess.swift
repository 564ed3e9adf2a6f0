import Foundation

/// MDETR's post-processing: softmax over the 256 soft-token slots, score = 1 − P(no-object), boxes from
/// (cx, cy, w, h) relative to the input to corner pixels of the original image (not clamped, no NMS).
public enum PostProcess {
    public static let noObject = 255

    /// (Q, 256) probabilities.
    public static func probabilities(_ logits: Tensor) -> Tensor { softmaxLastAxis(logits) }

    public static func scores(_ probabilities: Tensor) -> [Float] {
        let slots = probabilities.shape[1]
        return (0..<probabilities.shape[0]).map { 1 - probabilities.data[$0 * slots + noObject] }
    }

    public static func boxes(_ boxes: Tensor, width: Int, height: Int) -> [Box] {
        let w = Float(width), h = Float(height)
        return (0..<boxes.shape[0]).map { q in
            let cx = boxes.data[q * 4], cy = boxes.data[q * 4 + 1], bw = boxes.data[q * 4 + 2], bh = boxes.data[q * 4 + 3]
            return Box(x0: (cx - bw / 2) * w, y0: (cy - bh / 2) * h, x1: (cx + bw / 2) * w, y1: (cy + bh / 2) * h)
        }
    }

    /// Per query (rows) and category (columns): the probability mass on the category's tokens, the rule MDETR's
    /// matcher trains (`−Σ_j prob[q, j] · P[t, j]` over a binary positive map). For packed captions.
    public static func spanMass(_ probabilities: Tensor, tokens: [ClosedRange<Int>]) -> [[Float]] {
        let slots = probabilities.shape[1]
        return (0..<probabilities.shape[0]).map { q in
            let row = q * slots
            return tokens.map { span in
                var sum: Float = 0
                for t in span where t < noObject { sum += probabilities.data[row + t] }
                return sum
            }
        }
    }

    /// Per query and phrase: the largest probability on any of the phrase's tokens (the binarized positive map,
    /// as the official Flickr post-processor uses). Returns (Q, phrases).
    public static func phraseScores(_ probabilities: Tensor, positiveMap: Tensor) -> Tensor {
        let q = probabilities.shape[0], slots = probabilities.shape[1], p = positiveMap.shape[0]
        var out = Tensor(zeros: [q, p])
        for i in 0..<q {
            for j in 0..<p {
                var best: Float = 0
                for t in 0..<min(slots, positiveMap.shape[1]) where positiveMap.data[j * positiveMap.shape[1] + t] > 0 {
                    best = max(best, probabilities.data[i * slots + t])
                }
                out.data[i * p + j] = best
            }
        }
        return out
    }

    /// The demo recipe: the caption text of the tokens a query puts more than `tokenThreshold` probability on
    /// (merged into contiguous character spans).
    public static func groundedText(_ probabilities: Tensor, query: Int, encoding: Encoding,
                                    tokenThreshold: Float = 0.1) -> String {
        let slots = probabilities.shape[1]
        var ranges: [Range<Int>] = []
        for t in 0..<min(encoding.ids.count, noObject) where probabilities.data[query * slots + t] > tokenThreshold {
            let r = encoding.offsets[t]
            if r.isEmpty { continue }
            if let last = ranges.last, r.lowerBound <= last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                ranges.append(r)
            }
        }
        return ranges.map { encoding.substring($0) }.joined(separator: " ")
    }
}
