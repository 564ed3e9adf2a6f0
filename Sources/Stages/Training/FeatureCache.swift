import Detector
import Foundation

/// The frozen backbone's output for each training image at the training size (and caption-only images at the
/// smaller caption size), computed once before the first step, one image per core. Workers only write their own
/// slots (`LockedResults`) while precomputing; afterwards the cache is read by the training thread alone.
final class FeatureCache: @unchecked Sendable {
    let c: TrainingConfig
    let images: [(id: Int, file: String, width: Int, height: Int)]
    let backbone: any Backbone
    private var cache: [Int: Tensor] = [:]
    private var captionCache: [Int: Tensor] = [:]

    init(_ c: TrainingConfig, images: [(id: Int, file: String, width: Int, height: Int)], backbone: any Backbone) {
        self.c = c
        self.images = images
        self.backbone = backbone
    }

    /// The frozen backbone's output for image i at the training size (computed once); caption-only images at the
    /// smaller caption size.
    func features(_ i: Int) -> Tensor { features(i, size: c.imageSize, maxSize: c.imageMax, cache: &cache) }

    func captionFeatures(_ i: Int) -> Tensor {
        let size = c.captionImageSize ?? c.imageSize * 3 / 4
        return features(i, size: size, maxSize: c.imageMax * size / c.imageSize, cache: &captionCache)
    }

    func features(_ i: Int, size: Int, maxSize: Int, cache: inout [Int: Tensor]) -> Tensor {
        if let hit = cache[i] { return hit }
        // Every image is decoded before the first step (`precompute`), so this cannot fail here.
        guard let f = try? computeFeatures(i, size: size, maxSize: maxSize) else { preconditionFailure("image \(i) was not precomputed") }
        cache[i] = f
        return f
    }

    func computeFeatures(_ i: Int, size: Int, maxSize: Int) throws -> Tensor {
        let path = URL(fileURLWithPath: c.images).appendingPathComponent(images[i].file).path
        let image: RGBImage
        do { image = try ImageDecoder().decode(file: path) } catch {
            throw TrainingError("training image \(path) (image id \(images[i].id)) cannot be used: \(error)")
        }
        let (w, h) = Preprocessing.evalSize(width: image.width, height: image.height, size: size, maxSize: maxSize)
        let input = Preprocessing.tensor(PillowResize.bilinear(image, width: w, height: h), normalization: .symmetric)
        return backbone(input)
    }

    /// Root mean square of the cached backbone output over (up to) 64 training images.
    func rms() -> Float {
        var sum = 0.0, count = 0
        for (_, f) in cache.sorted(by: { $0.key < $1.key }).prefix(64) {
            for v in f.data { sum += Double(v * v) }
            count += f.data.count
        }
        return count > 0 ? Float((sum / Double(count)).squareRoot()) : 1
    }

    /// Every training image's features before the first step, one image per core (each image's kernels on its own
    /// thread), instead of one at a time inside the first epoch. A missing or unreadable image stops the run here,
    /// naming the file, before any training time is spent.
    func precompute(records: [TrainingRecord], captionRecords: [TrainingRecord], workers: Int, progress showing: Bool,
                    shouldStop: @escaping @Sendable () -> Bool) throws {
        let captionSize = c.captionImageSize ?? c.imageSize * 3 / 4
        let jobs = Array(Set(records.map(\.image))).sorted().map { ($0, c.imageSize, c.imageMax, false) }
            + Array(Set(captionRecords.map(\.image))).sorted().map { ($0, captionSize, c.imageMax * captionSize / c.imageSize, true) }
        let progress = ProgressBar(total: jobs.count, label: "features", enabled: showing)
        let results = LockedResults<Tensor>(count: jobs.count)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            BLASThreads.serially {
                for k in stride(from: worker, to: jobs.count, by: workers) {
                    if shouldStop() { break }
                    let (i, size, maxSize, _) = jobs[k]
                    results.set(k, Result { try computeFeatures(i, size: size, maxSize: maxSize) })
                    progress.advance()
                }
            }
        }
        progress.finish()
        if shouldStop() { throw TrainingSession.Stopped() }
        for (k, job) in jobs.enumerated() {
            let f = try results.values(at: k)
            if job.3 { captionCache[job.0] = f } else { cache[job.0] = f }
        }
    }
}
