import COpenBLAS
import Foundation

/// Thread policy between OpenBLAS and Dispatch on a small machine: OpenBLAS runs single-threaded, and the Detector
/// splits each large product into `workers` independent tiles (output columns of a convolution, rows of a linear
/// layer, heads of an attention) that run on Dispatch threads, each tile doing its own im2col and GEMM. That keeps
/// both cores busy with useful work (no OpenBLAS threads spinning while the Detector does non-BLAS work) and puts a
/// tile's im2col and GEMM on the same core's caches.
public enum BLASThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var configuredWorkers: Int?

    /// How many tiles large products are split into: `OPENBLAS_NUM_THREADS` when set, else the core count; 1 inside
    /// `serially`.
    public static var workers: Int {
        if pthread_getspecific(serialKey) != nil { return 1 }
        lock.lock()
        defer { lock.unlock() }
        if let configuredWorkers { return configuredWorkers }
        let env = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"].flatMap(Int.init)
        let n = max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
        configuredWorkers = n
        openblas_set_num_threads(1)
        keepLargeBlocks()
        return n
    }

    /// Activations are large (tens of MB) and short-lived. glibc serves such blocks with fresh `mmap`s by default, so
    /// every layer output would be faulted in and zeroed page by page; keeping them in the heap lets the next layer
    /// reuse the same memory.
    private static func keepLargeBlocks() {
        mallopt(CMALLOC_MMAP_THRESHOLD, 1 << 30)
        mallopt(CMALLOC_TRIM_THRESHOLD, 1 << 30)
    }

    /// Runs `body` with every kernel it calls on the calling thread alone. For coarse-grained parallelism: independent
    /// sequences run side by side, one per core, rather than each kernel split across cores and joined after it.
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    private static let serialKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create")
        return key
    }()

    /// Overrides the worker count (tests, benchmarks at one thread).
    public static func set(_ count: Int) {
        lock.lock()
        configuredWorkers = max(1, count)
        lock.unlock()
        openblas_set_num_threads(1)
    }
}
