// swift-tools-version:6.0
import Foundation
import PackageDescription

// The Detector's own kernels (softmax, activations, normalization, resizing) are loops the compiler vectorizes; for the
// baseline x86-64 it can use SSE2 only. Optimized builds therefore target the CPU they are built on, as the set-up
// builds on the machine that runs the daemon. PIPELINED_TARGET_CPU=generic builds a binary for any x86-64 (or
// names another CPU, e.g. skylake-avx512).
let targetCPU = ProcessInfo.processInfo.environment["PIPELINED_TARGET_CPU"] ?? "native"
let detectorFlags: [SwiftSetting] = (targetCPU == "generic" ? [] :
    [.unsafeFlags(["-target-cpu", targetCPU], .when(configuration: .release))])
    // Debug builds (the test suite) optimize the Detector too: its SIMD kernels are dozens of times slower unoptimized,
    // and the tests then check the code that ships.
    + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "pipelined",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pipelined", targets: ["pipelined"]),
        .library(name: "Detector", targets: ["Detector"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries, each imported only by the module that sits next to it.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CInotifyTools", providers: [.apt(["libinotifytools0-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),

        .target(name: "Detector", dependencies: [
            "COpenBLAS", .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: detectorFlags),
        .target(name: "Store", dependencies: [
            "CLibPQ",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Pipeline", dependencies: [
            "Store", "CInotifyTools",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .target(name: "Stages", dependencies: [
            "Pipeline", "Store", "Detector", "CTurboJPEG", "CPNG", "CCairo",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "pipelined", dependencies: [
            "Pipeline", "Stages", "Store", "Detector", "CCurl",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["DefaultModel"]),

        // A daemon wired with a test double in place of the detector, for the end-to-end tests and the
        // non-model benchmark. It lives under Tests and is not a product: the shipped binary has no fake detector.
        .executableTarget(name: "pipelined-harness", dependencies: [
            "Pipeline", "Stages", "Store", "Detector",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/Harness"),

        // The detector benchmark (release build; driven by tools/bench_detector.py). Not a product.
        .executableTarget(name: "detector-bench", dependencies: ["Detector", "COpenBLAS"], path: "Tests/Benchmarks"),

        // Helpers shared by the test targets: throwaway databases, temporary directories, built binaries.
        .target(name: "TestSupport", dependencies: [
            "Store", "Pipeline", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Tests/Support"),

        .testTarget(name: "StoreTests", dependencies: ["Store", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Store", "TestSupport"]),
        .testTarget(name: "StagesTests", dependencies: ["Stages", "Detector", "Pipeline", "Store", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DetectorTests", dependencies: ["Detector"], resources: [.copy("Fixtures")]),
        // Fixtures are read from the source tree (BuiltProducts.packageRoot), not bundled.
        .testTarget(name: "EndToEndTests", dependencies: ["Detector", "Pipeline", "Stages", "Store", "TestSupport"], exclude: ["Fixtures"]),
    ]
)
