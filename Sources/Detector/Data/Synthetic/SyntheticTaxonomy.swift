/// The attributes synthetic objects are made of. A category is one combination — size, pattern, colour, shape — named
/// like "small striped red star" ("plain" is left out of names). No single attribute identifies a category, and every
/// category has near-duplicates that differ from it in one attribute only.
///
/// Each attribute value has synonyms that the generator never writes into names, definitions or captions; they are
/// listed in the categories' `synonyms` (LVIS's field) for testing wording a model never saw.
public enum SyntheticTaxonomy {
    public struct Value: Sendable {
        public let name: String
        public let synonyms: [String]
    }

    public struct Color: Sendable {
        public let value: Value
        public let rgb: (Float, Float, Float)
    }

    public enum Size: Int, Sendable, CaseIterable { case small, large }
    public enum Pattern: Int, Sendable, CaseIterable { case plain, striped, dotted, checkered }
    public enum Shape: Int, Sendable, CaseIterable {
        case circle, square, triangle, star, hexagon, pentagon, diamond, cross, ring, heart, crescent, arrow
    }

    public static let sizes: [Value] = [
        Value(name: "small", synonyms: ["tiny", "little"]),
        Value(name: "large", synonyms: ["big", "huge"]),
    ]
    public static let patterns: [Value] = [
        Value(name: "plain", synonyms: ["solid", "uniform"]),
        Value(name: "striped", synonyms: ["stripy", "banded"]),
        Value(name: "dotted", synonyms: ["spotted", "polka-dot"]),
        Value(name: "checkered", synonyms: ["checked", "chequered"]),
    ]
    public static let colors: [Color] = [
        Color(value: Value(name: "red", synonyms: ["crimson", "scarlet"]), rgb: (215, 38, 38)),
        Color(value: Value(name: "orange", synonyms: ["tangerine", "amber"]), rgb: (240, 135, 25)),
        Color(value: Value(name: "yellow", synonyms: ["lemon", "golden"]), rgb: (235, 215, 35)),
        Color(value: Value(name: "green", synonyms: ["emerald", "leafy"]), rgb: (35, 160, 60)),
        Color(value: Value(name: "cyan", synonyms: ["aqua", "turquoise"]), rgb: (30, 195, 215)),
        Color(value: Value(name: "blue", synonyms: ["azure", "cobalt"]), rgb: (35, 70, 215)),
        Color(value: Value(name: "purple", synonyms: ["violet", "lilac"]), rgb: (135, 55, 195)),
        Color(value: Value(name: "pink", synonyms: ["rose", "salmon"]), rgb: (240, 115, 175)),
        Color(value: Value(name: "brown", synonyms: ["chocolate", "chestnut"]), rgb: (125, 75, 35)),
        Color(value: Value(name: "gray", synonyms: ["grey", "ashen"]), rgb: (125, 125, 125)),
    ]
    public static let shapes: [Value] = [
        Value(name: "circle", synonyms: ["disc", "round"]),
        Value(name: "square", synonyms: ["quadrate", "box"]),
        Value(name: "triangle", synonyms: ["trigon", "wedge"]),
        Value(name: "star", synonyms: ["pentagram", "starlet"]),
        Value(name: "hexagon", synonyms: ["six-gon", "honeycomb cell"]),
        Value(name: "pentagon", synonyms: ["five-gon", "home plate"]),
        Value(name: "diamond", synonyms: ["rhombus", "lozenge"]),
        Value(name: "cross", synonyms: ["plus sign", "plus"]),
        Value(name: "ring", synonyms: ["donut", "annulus"]),
        Value(name: "heart", synonyms: ["love heart", "valentine"]),
        Value(name: "crescent", synonyms: ["half moon", "sickle"]),
        Value(name: "arrow", synonyms: ["pointer", "chevron"]),
    ]

    /// One attribute combination.
    public struct Combination: Hashable, Sendable {
        public var size: Size, pattern: Pattern, color: Int, shape: Shape

        /// How many attributes differ.
        public func distance(to other: Combination) -> Int {
            (size != other.size ? 1 : 0) + (pattern != other.pattern ? 1 : 0) + (color != other.color ? 1 : 0)
                + (shape != other.shape ? 1 : 0)
        }
    }

    public static var allCombinations: [Combination] {
        var out: [Combination] = []
        for size in Size.allCases {
            for pattern in Pattern.allCases {
                for color in colors.indices {
                    for shape in Shape.allCases { out.append(Combination(size: size, pattern: pattern, color: color, shape: shape)) }
                }
            }
        }
        return out
    }

    /// "small striped red star"; "plain" is not named.
    public static func name(_ c: Combination, size: String? = nil, pattern: String? = nil, color: String? = nil,
                            shape: String? = nil, plural: Bool = false) -> String {
        var words = [size ?? sizes[c.size.rawValue].name]
        if c.pattern != .plain { words.append(pattern ?? patterns[c.pattern.rawValue].name) }
        words.append(color ?? colors[c.color].value.name)
        let noun = shape ?? shapes[c.shape.rawValue].name
        words.append(plural ? (noun.hasSuffix("s") ? noun + "es" : noun + "s") : noun)
        return words.joined(separator: " ")
    }

    /// Names with one attribute swapped for each of its synonyms (LVIS's `synonyms` also lists the name first).
    public static func synonyms(_ c: Combination) -> [String] {
        var out = [name(c)]
        for s in sizes[c.size.rawValue].synonyms { out.append(name(c, size: s)) }
        if c.pattern != .plain { for s in patterns[c.pattern.rawValue].synonyms { out.append(name(c, pattern: s)) } }
        for s in colors[c.color].value.synonyms { out.append(name(c, color: s)) }
        for s in shapes[c.shape.rawValue].synonyms { out.append(name(c, shape: s)) }
        return out
    }

    /// The attributes whose wording can be swapped for an unseen synonym.
    public enum Attribute: String, CaseIterable, Sendable { case size, pattern, color, shape }

    /// The name with `attribute` replaced by its first synonym (nil for "plain", which names do not show).
    public static func reworded(_ c: Combination, _ attribute: Attribute) -> String? {
        switch attribute {
        case .size: return name(c, size: sizes[c.size.rawValue].synonyms[0])
        case .pattern: return c.pattern == .plain ? nil : name(c, pattern: patterns[c.pattern.rawValue].synonyms[0])
        case .color: return name(c, color: colors[c.color].value.synonyms[0])
        case .shape: return name(c, shape: shapes[c.shape.rawValue].synonyms[0])
        }
    }

    /// A one-sentence definition (LVIS's `def`), for the name-and-definition prompt template.
    public static func definition(_ c: Combination) -> String {
        let size = c.size == .small ? "a small" : "a large"
        let shape = shapes[c.shape.rawValue].name
        let color = colors[c.color].value.name
        switch c.pattern {
        case .plain: return "\(size) \(shape)-shaped figure of a single \(color) color"
        case .striped: return "\(size) \(shape)-shaped figure, \(color) with pale stripes"
        case .dotted: return "\(size) \(shape)-shaped figure, \(color) with pale dots"
        case .checkered: return "\(size) \(shape)-shaped figure with a \(color) and pale checkerboard pattern"
        }
    }
}
