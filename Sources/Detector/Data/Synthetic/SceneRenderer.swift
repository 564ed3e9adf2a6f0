import Foundation

/// Draws synthetic scenes: a background (flat, gradient, smooth noise or broad bands) with clutter (lines and
/// irregular blobs that are no category's shape), then objects in order, later ones occluding earlier ones. Objects
/// are anti-aliased (2×2 samples per pixel), patterned in their own rotated frame, lightly shaded and colour-jittered;
/// the finished image gets a little pixel noise. An id buffer tells which object each pixel shows, so boxes and areas
/// are those of the visible part, as in LVIS.
public struct SceneRenderer: Sendable {
    /// One object to draw; `radius` in pixels is half the extent of the shape's frame.
    public struct Object: Sendable {
        public var combination: SyntheticTaxonomy.Combination
        public var centerX: Double, centerY: Double
        public var radius: Double
        public var aspect: Double        // frame width / height
        public var rotation: Double      // radians
        public var patternAngle: Double  // stripe direction
        public var tint: (Float, Float, Float)   // per-channel colour jitter, added
        public var brightness: Float
    }

    /// What became of an object once everything was drawn.
    public struct Visibility: Sendable {
        public var fullPixels: Int       // pixels it covered when drawn
        public var visiblePixels: Int    // pixels still showing it at the end
        public var box: (x: Int, y: Int, w: Int, h: Int)?   // of the visible pixels
        public var fraction: Double { fullPixels == 0 ? 0 : Double(visiblePixels) / Double(fullPixels) }
    }

    public enum Background: Sendable {
        case flat(Color3)
        case gradient(Color3, Color3, angle: Double)
        case noise(Color3, Color3, cell: Double, seed: UInt64)
        case bands(Color3, Color3, period: Double, angle: Double)
    }

    public struct Color3: Sendable {
        public var r: Float, g: Float, b: Float
        public init(_ r: Float, _ g: Float, _ b: Float) { (self.r, self.g, self.b) = (r, g, b) }
        func mixed(_ o: Color3, _ t: Float) -> Color3 { Color3(r + (o.r - r) * t, g + (o.g - g) * t, b + (o.b - b) * t) }
    }

    public enum Clutter: Sendable {
        case line(x0: Double, y0: Double, x1: Double, y1: Double, width: Double, color: Color3)
        case blob(circles: [(x: Double, y: Double, r: Double)], color: Color3)
    }

    public let width: Int, height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Renders the scene; `noiseSeed` drives the pixel noise.
    public func render(background: Background, clutter: [Clutter], objects: [Object], noiseSeed: UInt64)
        -> (image: RGBImage, visibility: [Visibility]) {
        var rgb = [Float](repeating: 0, count: width * height * 3)
        paint(background, into: &rgb)
        for item in clutter { paint(item, into: &rgb) }
        var ids = [Int32](repeating: -1, count: width * height)
        var full = [Int](repeating: 0, count: objects.count)
        for (index, object) in objects.enumerated() {
            full[index] = paint(object, index: Int32(index), into: &rgb, ids: &ids)
        }
        var visible = [Int](repeating: 0, count: objects.count)
        var boxes = [(x0: Int, y0: Int, x1: Int, y1: Int)](repeating: (Int.max, Int.max, -1, -1), count: objects.count)
        for y in 0..<height {
            for x in 0..<width {
                let id = Int(ids[y * width + x])
                guard id >= 0 else { continue }
                visible[id] += 1
                boxes[id] = (min(boxes[id].x0, x), min(boxes[id].y0, y), max(boxes[id].x1, x), max(boxes[id].y1, y))
            }
        }
        var rng = SplitMix64(seed: noiseSeed)
        var pixels = [UInt8](repeating: 0, count: rgb.count)
        for i in rgb.indices {
            let noisy = rgb[i] + Float(rng.uniform(-5, 5))
            pixels[i] = UInt8(max(0, min(255, noisy.rounded())))
        }
        let visibility = objects.indices.map { i in
            Visibility(fullPixels: full[i], visiblePixels: visible[i],
                       box: visible[i] > 0 ? (boxes[i].x0, boxes[i].y0, boxes[i].x1 - boxes[i].x0 + 1, boxes[i].y1 - boxes[i].y0 + 1) : nil)
        }
        return (RGBImage(width: width, height: height, pixels: pixels), visibility)
    }

    // MARK: - Background and clutter

    private func paint(_ background: Background, into rgb: inout [Float]) {
        let w = Double(width), h = Double(height)
        var lattice: [Float] = []
        var cellsX = 0
        if case let .noise(_, _, cell, seed) = background {
            // Smooth value noise: a random lattice every `cell` pixels, bilinearly interpolated.
            cellsX = Int(w / cell) + 2
            let cellsY = Int(h / cell) + 2
            var rng = SplitMix64(seed: seed)
            lattice = (0..<(cellsX * cellsY)).map { _ in Float(rng.unit()) }
        }
        for y in 0..<height {
            for x in 0..<width {
                let c: Color3
                switch background {
                case let .flat(a):
                    c = a
                case let .gradient(a, b, angle):
                    let t = ((Double(x) / w - 0.5) * cos(angle) + (Double(y) / h - 0.5) * sin(angle)) + 0.5
                    c = a.mixed(b, Float(max(0, min(1, t))))
                case let .noise(a, b, cell, _):
                    let fx = Double(x) / cell, fy = Double(y) / cell
                    let ix = Int(fx), iy = Int(fy)
                    let tx = Float(fx - Double(ix)), ty = Float(fy - Double(iy))
                    let v00 = lattice[iy * cellsX + ix], v10 = lattice[iy * cellsX + ix + 1]
                    let v01 = lattice[(iy + 1) * cellsX + ix], v11 = lattice[(iy + 1) * cellsX + ix + 1]
                    let v = (v00 * (1 - tx) + v10 * tx) * (1 - ty) + (v01 * (1 - tx) + v11 * tx) * ty
                    c = a.mixed(b, v)
                case let .bands(a, b, period, angle):
                    let s = (Double(x) * cos(angle) + Double(y) * sin(angle)) / period
                    let t = Float(0.5 + 0.5 * sin(2 * Double.pi * s))
                    c = a.mixed(b, t)
                }
                let i = (y * width + x) * 3
                rgb[i] = c.r; rgb[i + 1] = c.g; rgb[i + 2] = c.b
            }
        }
    }

    private func paint(_ clutter: Clutter, into rgb: inout [Float]) {
        switch clutter {
        case let .line(x0, y0, x1, y1, lineWidth, color):
            let dx = x1 - x0, dy = y1 - y0, length2 = max(dx * dx + dy * dy, 1e-9)
            let pad = lineWidth + 1
            for y in clampRange(min(y0, y1) - pad, max(y0, y1) + pad, height) {
                for x in clampRange(min(x0, x1) - pad, max(x0, x1) + pad, width) {
                    let px = Double(x) + 0.5, py = Double(y) + 0.5
                    let t = max(0, min(1, ((px - x0) * dx + (py - y0) * dy) / length2))
                    let ex = px - (x0 + t * dx), ey = py - (y0 + t * dy)
                    let coverage = Float(max(0, min(1, lineWidth / 2 + 0.5 - (ex * ex + ey * ey).squareRoot())))
                    if coverage > 0 { blend(&rgb, x, y, color, coverage) }
                }
            }
        case let .blob(circles, color):
            let x0 = circles.map { $0.x - $0.r }.min()!, x1 = circles.map { $0.x + $0.r }.max()!
            let y0 = circles.map { $0.y - $0.r }.min()!, y1 = circles.map { $0.y + $0.r }.max()!
            for y in clampRange(y0, y1, height) {
                for x in clampRange(x0, x1, width) {
                    let px = Double(x) + 0.5, py = Double(y) + 0.5
                    if circles.contains(where: { (px - $0.x) * (px - $0.x) + (py - $0.y) * (py - $0.y) < $0.r * $0.r }) {
                        blend(&rgb, x, y, color, 1)
                    }
                }
            }
        }
    }

    // MARK: - Objects

    /// Draws one object; returns how many pixels it covered (coverage ≥ ½).
    private func paint(_ o: Object, index: Int32, into rgb: inout [Float], ids: inout [Int32]) -> Int {
        let rx = o.radius * o.aspect.squareRoot(), ry = o.radius / o.aspect.squareRoot()
        let extent = max(rx, ry) * 1.05 + 1
        let cosR = cos(o.rotation), sinR = sin(o.rotation)
        let base = SyntheticTaxonomy.colors[o.combination.color].rgb
        let primary = Color3(max(0, min(255, base.0 * o.brightness + o.tint.0)), max(0, min(255, base.1 * o.brightness + o.tint.1)),
                             max(0, min(255, base.2 * o.brightness + o.tint.2)))
        let pale = primary.mixed(Color3(250, 250, 245), 0.72)
        // Pattern period in the object's frame: about a third of the shape, never finer than 5 pixels.
        let period = max(0.55, 5 / o.radius)
        let cosP = cos(o.patternAngle), sinP = sin(o.patternAngle)
        var covered = 0
        for y in clampRange(o.centerY - extent, o.centerY + extent, height) {
            for x in clampRange(o.centerX - extent, o.centerX + extent, width) {
                var inside = 0
                for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                    let (u, v) = local(Double(x) + sx, Double(y) + sy, o, rx, ry, cosR, sinR)
                    if Self.inside(o.combination.shape, u, v) { inside += 1 }
                }
                guard inside > 0 else { continue }
                let (u, v) = local(Double(x) + 0.5, Double(y) + 0.5, o, rx, ry, cosR, sinR)
                let usePale: Bool
                switch o.combination.pattern {
                case .plain: usePale = false
                case .striped: usePale = (u * cosP + v * sinP) / period - ((u * cosP + v * sinP) / period).rounded(.down) >= 0.5
                case .dotted:
                    let gx = u / period - (u / period).rounded(), gy = v / period - (v / period).rounded()
                    usePale = gx * gx + gy * gy < 0.09
                case .checkered:
                    usePale = (Int((u / period + 100).rounded(.down)) + Int((v / period + 100).rounded(.down))) % 2 == 0
                }
                // Soft light from the upper left.
                let shade = Float(1 + 0.1 * (-u - v) / 2)
                var c = usePale ? pale : primary
                c = Color3(min(255, c.r * shade), min(255, c.g * shade), min(255, c.b * shade))
                blend(&rgb, x, y, c, Float(inside) / 4)
                if inside >= 2 {
                    ids[y * width + x] = index
                    covered += 1
                }
            }
        }
        return covered
    }

    @inline(__always)
    private func local(_ px: Double, _ py: Double, _ o: Object, _ rx: Double, _ ry: Double, _ c: Double, _ s: Double)
        -> (Double, Double) {
        let dx = px - o.centerX, dy = py - o.centerY
        return ((dx * c + dy * s) / rx, (-dx * s + dy * c) / ry)
    }

    /// Whether (u, v) in the shape's frame ([-1, 1]², y down) is inside the shape.
    public static func inside(_ shape: SyntheticTaxonomy.Shape, _ u: Double, _ v: Double) -> Bool {
        switch shape {
        case .circle: return u * u + v * v < 1
        case .square: return max(abs(u), abs(v)) < 0.8
        case .diamond: return abs(u) / 0.62 + abs(v) < 1
        case .cross: return (abs(u) < 0.3 && abs(v) < 0.95) || (abs(v) < 0.3 && abs(u) < 0.95)
        case .ring:
            let r2 = u * u + v * v
            return r2 < 1 && r2 > 0.3
        case .heart:
            let x = u * 1.14, y = -v * 1.12 + 0.12
            let a = x * x + y * y - 1
            return a * a * a - x * x * y * y * y <= 0
        case .crescent:
            return u * u + v * v < 1 && (u - 0.45) * (u - 0.45) + v * v > 0.64
        case .triangle, .star, .hexagon, .pentagon, .arrow:
            return contains(polygons[shape]!, u, v)
        }
    }

    static let polygons: [SyntheticTaxonomy.Shape: [(Double, Double)]] = {
        func regular(_ n: Int, start: Double, radius: (Int) -> Double = { _ in 1 }) -> [(Double, Double)] {
            (0..<n).map { i in
                let a = start + 2 * Double.pi * Double(i) / Double(n)
                return (radius(i) * cos(a), radius(i) * sin(a))
            }
        }
        return [
            .triangle: [(0, -1), (0.95, 0.75), (-0.95, 0.75)],
            .star: regular(10, start: -Double.pi / 2) { $0 % 2 == 0 ? 1 : 0.42 },
            .hexagon: regular(6, start: 0),
            .pentagon: regular(5, start: -Double.pi / 2),
            .arrow: [(-1, -0.25), (0.15, -0.25), (0.15, -0.7), (1, 0), (0.15, 0.7), (0.15, 0.25), (-1, 0.25)],
        ]
    }()

    /// Even–odd rule.
    static func contains(_ polygon: [(Double, Double)], _ x: Double, _ y: Double) -> Bool {
        var inside = false
        var j = polygon.count - 1
        for i in polygon.indices {
            let (xi, yi) = polygon[i], (xj, yj) = polygon[j]
            if (yi > y) != (yj > y), x < (xj - xi) * (y - yi) / (yj - yi) + xi { inside.toggle() }
            j = i
        }
        return inside
    }

    private func blend(_ rgb: inout [Float], _ x: Int, _ y: Int, _ c: Color3, _ alpha: Float) {
        let i = (y * width + x) * 3
        rgb[i] += (c.r - rgb[i]) * alpha
        rgb[i + 1] += (c.g - rgb[i + 1]) * alpha
        rgb[i + 2] += (c.b - rgb[i + 2]) * alpha
    }

    private func clampRange(_ a: Double, _ b: Double, _ limit: Int) -> Range<Int> {
        let lo = max(0, Int(a.rounded(.down))), hi = min(limit, Int(b.rounded(.up)) + 1)
        return lo < hi ? lo..<hi : 0..<0
    }
}
