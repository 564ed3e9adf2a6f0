/// How pixels become the network's input.
public enum ImageNormalization: String, Sendable, Codable {
    /// ToTensor then Normalize(mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]) — MDETR's ResNet/EfficientNet.
    case imagenet
    /// x / 127.5 − 1, the range EfficientNet-Lite was trained on.
    case symmetric
}

public enum Preprocessing {
    /// MDETR's evaluation size: shorter side `size` unless the longer side would exceed `maxSize`
    /// (datasets/transforms.py `get_size_with_aspect_ratio`). Returns (width, height).
    public static func evalSize(width w: Int, height h: Int, size: Int = 800, maxSize: Int? = 1333) -> (Int, Int) {
        precondition(w > 0 && h > 0, "an image has at least one pixel")
        var size = size
        if let maxSize {
            let minOriginal = Double(min(w, h)), maxOriginal = Double(max(w, h))
            if maxOriginal / minOriginal * Double(size) > Double(maxSize) {
                size = Int((Double(maxSize) * minOriginal / maxOriginal).rounded(.toNearestOrEven))
            }
        }
        // A very thin image (10000×1) would round its shorter side to 0 and its scale to infinity; no side is ever
        // smaller than one pixel (torchvision would fail on it; an image the decoder accepts must not).
        size = max(size, 1)
        if (w <= h && w == size) || (h <= w && h == size) { return (w, h) }
        if w < h { return (size, max(1, Int(Double(size) * Double(h) / Double(w)))) }
        return (max(1, Int(Double(size) * Double(w) / Double(h))), size)
    }

    /// The (3, H, W) float input for 8-bit RGB pixels.
    public static func tensor(_ image: RGBImage, normalization: ImageNormalization) -> Tensor {
        let n = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * n)
        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        image.pixels.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                for p in 0..<n {
                    let v = Float(src[p * 3 + c])
                    switch normalization {
                    case .imagenet: out[c * n + p] = (v / 255 - mean[c]) / std[c]
                    case .symmetric: out[c * n + p] = v / 127.5 - 1
                    }
                }
            }
        }
        return Tensor(shape: [3, image.height, image.width], data: out)
    }
}
