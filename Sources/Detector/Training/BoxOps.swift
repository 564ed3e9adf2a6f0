/// Box arithmetic on (N, 4) variables, composed from differentiable primitives (as `util/box_ops.py`).
public enum BoxOps {
    /// (cx, cy, w, h) → (x0, y0, x1, y1).
    public static func xyxy(_ b: Variable) -> Variable {
        let cx = b.slice(columns: 0..<1), cy = b.slice(columns: 1..<2)
        let w = b.slice(columns: 2..<3) * 0.5, h = b.slice(columns: 3..<4) * 0.5
        return Variable.concat(columns: [cx - w, cy - h, cx + w, cy + h])
    }

    /// Generalized IoU of row i of `a` with row i of `b` (both xyxy): (N, 1). `generalized_box_iou` on the diagonal.
    public static func pairwiseGIoU(_ a: Variable, _ b: Variable) -> Variable {
        func col(_ x: Variable, _ i: Int) -> Variable { x.slice(columns: i..<(i + 1)) }
        let areaA = (col(a, 2) - col(a, 0)) * (col(a, 3) - col(a, 1))
        let areaB = (col(b, 2) - col(b, 0)) * (col(b, 3) - col(b, 1))
        let iw = (Variable.minimum(col(a, 2), col(b, 2)) - Variable.maximum(col(a, 0), col(b, 0))).clamped(min: 0)
        let ih = (Variable.minimum(col(a, 3), col(b, 3)) - Variable.maximum(col(a, 1), col(b, 1))).clamped(min: 0)
        let inter = iw * ih
        let union = areaA + areaB - inter
        let iou = inter / union
        let cw = (Variable.maximum(col(a, 2), col(b, 2)) - Variable.minimum(col(a, 0), col(b, 0))).clamped(min: 0)
        let ch = (Variable.maximum(col(a, 3), col(b, 3)) - Variable.minimum(col(a, 1), col(b, 1))).clamped(min: 0)
        let hull = cw * ch
        return iou - (hull - union) / hull
    }

    /// GIoU of every pair (plain numbers, for the matcher's cost): (N, M).
    public static func giouMatrix(_ a: [[Float]], _ b: [[Float]]) -> [[Float]] {
        a.map { p in
            b.map { t in
                let areaA = (p[2] - p[0]) * (p[3] - p[1]), areaB = (t[2] - t[0]) * (t[3] - t[1])
                let inter = max(0, min(p[2], t[2]) - max(p[0], t[0])) * max(0, min(p[3], t[3]) - max(p[1], t[1]))
                let union = areaA + areaB - inter
                let hull = max(0, max(p[2], t[2]) - min(p[0], t[0])) * max(0, max(p[3], t[3]) - min(p[1], t[1]))
                return inter / union - (hull - union) / hull
            }
        }
    }

    public static func xyxy(_ b: [Float]) -> [Float] { [b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2] }
}
