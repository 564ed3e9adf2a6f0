/// The colour a label is drawn in, the same everywhere (rendered images, the results page): FNV-1a of its UTF-8
/// bytes picks one of 20 well-separated hues (Tableau 20 order), stable across runs and machines.
public enum LabelColour {
    static let palette: [(UInt8, UInt8, UInt8)] = [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194),
        (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120), (152, 223, 138),
        (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
    ]

    public static func of(_ label: String) -> (r: UInt8, g: UInt8, b: UInt8) {
        var hash: UInt32 = 2_166_136_261
        for byte in label.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let c = palette[Int(hash % UInt32(palette.count))]
        return (c.0, c.1, c.2)
    }

    /// `#rrggbb` for CSS and SVG.
    public static func hex(_ label: String) -> String {
        let c = of(label)
        return "#" + [c.r, c.g, c.b].map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
