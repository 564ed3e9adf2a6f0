/// Bounds checked before any pixel buffer is allocated, so a hostile header cannot make the daemon allocate
/// gigabytes.
public struct DecodeLimits: Sendable, Equatable {
    public var maxFileBytes: Int
    public var maxSide: Int
    public var maxPixels: Int

    public init(maxFileBytes: Int = 64 << 20, maxSide: Int = 16_384, maxPixels: Int = 64_000_000) {
        self.maxFileBytes = maxFileBytes
        self.maxSide = maxSide
        self.maxPixels = maxPixels
    }

    func check(width: Int, height: Int) throws {
        guard width > 0, height > 0 else { throw DecodeError.invalidDimensions(width: width, height: height) }
        guard width <= maxSide, height <= maxSide else {
            throw DecodeError.dimensionsTooLarge(width: width, height: height, maxSide: maxSide)
        }
        guard width * height <= maxPixels else {
            throw DecodeError.tooManyPixels(width: width, height: height, limit: maxPixels)
        }
    }
}
