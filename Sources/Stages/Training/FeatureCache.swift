import Detector
import Foundation

/// The frozen backbone's output for each training image at the training size (and caption-only images at the
/// smaller caption size), computed once before the first step, one image per core: the stride-32 map (MDETR), or C3,
/// C4 and C5 (`pyramid`, DetCLIPv2). Workers only write their own slots (`LockedResults`) while precomputing;
/// afterwards the cache is read by the training thread alone.
final class FeatureCache: @unchecked Sendable {
    let c: TrainingConfig
    let images: [(id: Int, file: String, width: Int, height: Int)]
    let backbone: any Backbone
    let pyramid: Bool
    private var cache: [Int: [Tensor]] = [:]
    private var captionCache: [Int: [Tensor]] = [:]

    init(_ c: TrainingConfig, images: [(id: Int, file: String, width: Int, height: Int)], backbone: any Backbone, pyramid: Bool = false) {
        self.c = c
        self.images = images
        self.backbone = backbone
        self.pyramid = pyramid
    }

    var captionSize: (size: Int, maxSize: Int) {
        let size = c.captionImageSize ?? c.imageSize * 3 / 4
        return (size, c.imageMax * size / c.imageSize)
    }

    /// The frozen backbone's output for image i at the training size (computed once); caption-only images at the
    /// smaller caption size.
    func features(_ i: Int) -> [Tensor] { features(i, size: c.imageSize, maxSize: c.imageMax, cache: &cache) }

    func captionFeatures(_ i: Int) -> [Tensor] { features(i, size: captionSize.size, maxSize: captionSize.maxSize, cache: &captionCache) }

    /// The network input's size (width, height) for image i at a shorter side `size`, the longer at most `maxSize`.
    func inputSize(_ i: Int, size: Int, maxSize: Int) -> (width: Int, height: Int) {
        let s = Preprocessing.evalSize(width: images[i].width, height: images[i].height, size: size, maxSize: maxSize)
        return (s.0, s.1)
    }

    func features(_ i: Int, size: Int, maxSize: Int, cache: inout [Int: [Tensor]]) -> [Tensor] {
        if let hit = cache[i] { return hit }
        // Every image is decoded before the first step (`precompute`), so this cannot fail here.
        guard let f = try? computeFeatures(i, size: size, maxSize: maxSize) else { preconditionFailure("image \(i) was not precomputed") }
        cache[i] = f
        return f
    }

    func computeFeatures(_ i: Int, size: Int, maxSize: Int) throws -> [Tensor] {
        let path = URL(fileURLWithPath: c.images).appendingPathComponent(images[i].file).path
        let image: RGBImage
        do { image = try ImageDecoder().decode(file: path) } catch {
            throw TrainingError("training image \(path) (image id \(images[i].id)) cannot be used: \(error)")
        }
        let (w, h) = Preprocessing.evalSize(width: image.width, height: image.height, size: size, maxSize: maxSize)
        let input = Preprocessing.tensor(PillowResize.bilinear(image, width: w, height: h), normalization: .symmetric)
        return pyramid ? backbone.pyramid(input) : [backbone(input)]
    }

    /// Root mean square of the cached backbone output over (up to) 64 training images.
    func rms() -> Float {
        var sum = 0.0, count = 0
        for (_, levels) in cache.sorted(by: { $0.key < $1.key }).prefix(64) {
            guard let f = levels.last else { continue }
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
        let jobs = Array(Set(records.map(\.image))).sorted().map { ($0, c.imageSize, c.imageMax, false) }
            + Array(Set(captionRecords.map(\.image))).sorted().map { ($0, captionSize.size, captionSize.maxSize, true) }
        let progress = ProgressBar(total: jobs.count, label: "features", enabled: showing)
        let results = LockedResults<[Tensor]>(count: jobs.count)
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
