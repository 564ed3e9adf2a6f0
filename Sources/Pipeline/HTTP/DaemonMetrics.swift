import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The daemon's metrics, recorded through swift-metrics and exported by swift-prometheus. Counters and histograms
/// are kept as the work happens; `jobs` and `model_info` are read from PostgreSQL when scraped (the queue is shared by
/// every daemon on it, so only the database knows it).
public enum DaemonMetrics {
    public static let registry = PrometheusCollectorRegistry()

    /// Installs the Prometheus backend, once per process (swift-metrics allows one bootstrap).
    public static func bootstrap() { _ = installed }
    private static let installed: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
            .seconds(120), .seconds(300), .seconds(600),
        ]
        factory.defaultValueHistogramBuckets = [0, 1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000]
        MetricsSystem.bootstrap(factory)
    }()

    public static func imageIngested(inbox: String) { Counter(label: "pipelined_images_ingested_total", dimensions: [("inbox", inbox)]).increment() }
    public static func imageDone(inbox: String) { Counter(label: "pipelined_images_done_total", dimensions: [("inbox", inbox)]).increment() }
    public static func imageQuarantined(inbox: String) { Counter(label: "pipelined_images_quarantined_total", dimensions: [("inbox", inbox)]).increment() }
    public static func jobDiscarded(inbox: String) { Counter(label: "pipelined_jobs_discarded_total", dimensions: [("inbox", inbox)]).increment() }
    public static func watcherRescan(reason: String) { Counter(label: "pipelined_watcher_rescans_total", dimensions: [("reason", reason)]).increment() }
    public static func inotifyOverflow() { Counter(label: "pipelined_inotify_overflows_total").increment() }
    /// A fine-tuning run that ended: promoted, rejected by the gate, or failed.
    public static func fineTuneRun(outcome: String) { Counter(label: "pipelined_finetune_runs_total", dimensions: [("outcome", outcome)]).increment() }

    /// One step of a job (`queue_wait`, a stage, `total`), in seconds.
    public static func stage(_ name: String, milliseconds: Double) {
        Timer(label: "pipelined_stage_duration_seconds", dimensions: [("stage", name)])
            .recordNanoseconds(Int64((milliseconds * 1e6).rounded()))
    }

    public static func detectionsPerImage(_ n: Int) { Recorder(label: "pipelined_detections_per_image").record(n) }

    /// The queue by state and the active model, as the database says now; then everything in Prometheus text.
    public static func scrape(jobs: [String: Int], activeModel: String?) -> String {
        for state in ["available", "running", "retryable", "done", "discarded", "cancelled"] {
            Gauge(label: "pipelined_jobs", dimensions: [("state", state)]).record(jobs[state] ?? 0)
        }
        lock.lock()
        defer { lock.unlock() }
        // One model is active at a time: the one before it goes to 0 (it keeps its series, as Prometheus expects).
        if let previous = lastModel, previous != activeModel {
            Gauge(label: "pipelined_model_info", dimensions: [("model", previous)]).record(0)
        }
        if let activeModel {
            Gauge(label: "pipelined_model_info", dimensions: [("model", activeModel)]).record(1)
            lastModel = activeModel
        }
        return registry.emitToString()
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var lastModel: String?
}
