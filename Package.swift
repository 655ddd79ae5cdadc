// swift-tools-version:6.1
import Foundation
import PackageDescription

/// Kernels are vectorised with `SIMD16<Float>`; the CPU target decides whether that is one AVX-512
/// register or two AVX2 ones. Default: `haswell`, the x86-64-v3 level (AVX2, FMA, BMI2; Swift's
/// `-target-cpu` does not take the level's own name), so a binary runs on any x86-64 machine of the
/// last decade and can be copied between them. `RECUR_TARGET_CPU=native` builds for the building
/// machine only (AVX-512 where it has it).
let targetCPU: String = {
    let asked = ProcessInfo.processInfo.environment["RECUR_TARGET_CPU"] ?? "haswell"
    return ["x86-64-v3": "haswell", "x86-64-v4": "skylake-avx512"][asked] ?? asked
}()

/// The CPU features the build requires, checked before `main` (Sources/CRecurSupport): a machine
/// without them gets one line naming what it lacks instead of SIGILL. For `native`, the building
/// machine's vector features, read from /proc/cpuinfo.
let requiredCPUFeatures: [String] = {
    let v3 = ["AVX", "AVX2", "FMA", "BMI", "BMI2", "F16C"]
    let v4 = v3 + ["AVX512F", "AVX512BW", "AVX512VL", "AVX512DQ", "AVX512CD"]
    switch targetCPU {
    case "haswell": return v3
    case "skylake-avx512": return v4
    case "native":
        let flags = Set(
            ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").split(separator: "\n")
                .first { $0.hasPrefix("flags") }?.split(separator: " ").map { $0.uppercased() } ?? []
        )
        return v4.filter { flags.contains($0) }
    default: return []
    }
}()

#if arch(x86_64)
let cpuFlags: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", targetCPU]),
    // `recur --version` names the target: RECUR_TARGET_CPU_NATIVE, RECUR_TARGET_CPU_HASWELL, …
    .define("RECUR_TARGET_CPU_" + targetCPU.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()),
]
#else
let cpuFlags: [SwiftSetting] = []
#endif

/// CI builds Recur's own targets with warnings as errors (`RECUR_STRICT=1`, set by `.ci/run`). The
/// generated contract code is left out: its unused `public import`s warn.
let strict: [SwiftSetting] = ProcessInfo.processInfo.environment["RECUR_STRICT"] == "1" ? [.unsafeFlags(["-warnings-as-errors"])] : []

/// The engine is optimised in debug builds too, so its tests run real shapes in seconds.
let engineSettings: [SwiftSetting] =
    cpuFlags + [
        .unsafeFlags(["-O"], .when(configuration: .debug)),
        .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
    ]

let package = Package(
    name: "Recur",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "recur", targets: ["recur"]),
        .library(name: "RecurEngine", targets: ["RecurEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.7.0"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // MARK: - Engine
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "CRecurSupport",
            path: "Sources/CRecurSupport",
            cSettings: requiredCPUFeatures.map { .define("RECUR_REQUIRE_\($0)") } + [.define("RECUR_TARGET_CPU_NAME", to: "\"\(targetCPU)\"")]
        ),
        // The engine's own small-GEMM kernels, one per instruction set, picked at run time. Optimised
        // in debug builds too: the engine's tests run them at real shapes. No contraction of a
        // multiply and an add into an FMA: the gate kernels must round as the Swift passes do.
        .target(
            name: "CRecurKernels",
            path: "Sources/CRecurKernels",
            cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]
        ),
        .target(
            name: "RecurEngine",
            dependencies: [
                .target(name: "CBLAS", condition: .when(platforms: [.linux])),
                "CRecurSupport",
                "CRecurKernels",
            ],
            swiftSettings: engineSettings,
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS]))]
        ),

        // MARK: - Forecasting
        .target(
            name: "RecurForecast",
            dependencies: ["RecurEngine", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Yams", package: "Yams")],
            swiftSettings: cpuFlags
        ),

        // MARK: - Sweeps (pure: spec, space, samplers, pruners)
        .target(
            name: "RecurSweep",
            dependencies: [
                "RecurForecast", "RecurEngine", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Yams", package: "Yams"),
            ]
        ),

        // MARK: - Contract: types, server and client generated from docs/openapi.yaml
        .target(
            name: "RecurAPI",
            dependencies: [
                "RecurSweep", "RecurForecast", "RecurEngine",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),

        // MARK: - Store
        .target(
            name: "Migrations",
            path: "migrations",
            resources: [
                .embedInCode("0001_initial_schema.sql"),
                .embedInCode("0002_leaderboard_and_attempt_indexes.sql"),
                .embedInCode("0003_drop_deadline_index.sql"),
                .embedInCode("0004_checkpoint_files.sql"),
                .embedInCode("0005_tokens_and_worker_engines.sql"),
                .embedInCode("0006_runs.sql"),
                .embedInCode("0007_stop_rules.sql"),
                .embedInCode("0008_enqueued.sql"),
            ]
        ),
        .target(
            name: "RecurStore",
            dependencies: ["RecurSweep", "Migrations", .product(name: "GRDB", package: "GRDB.swift")]
        ),

        // MARK: - Coordinator and workers
        .target(
            name: "RecurCoordinator",
            dependencies: [
                "RecurAPI", "RecurStore", "RecurSweep", "RecurForecast", "RecurEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // Webhook notifications.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The dashboard's templates, compiled into the binary (no resource bundle to ship).
            resources: ["layout", "index", "sweep", "trial", "login", "message"].map { .embedInCode("Templates/\($0).mustache") }
        ),
        .target(
            name: "RecurWorker",
            dependencies: [
                "RecurAPI", "RecurSweep", "RecurForecast", "RecurEngine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Command line
        .target(
            name: "RecurCLI",
            dependencies: [
                "RecurAPI",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                "RecurEngine",
                "RecurForecast",
                "RecurSweep",
                "RecurStore",
                "RecurCoordinator",
                "RecurWorker",
                "CRecurSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: cpuFlags
        ),
        .executableTarget(name: "recur", dependencies: ["RecurCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // MARK: - Tests
        .testTarget(
            name: "RecurEngineTests",
            dependencies: ["RecurEngine"],
            exclude: ["Fixtures"],
            swiftSettings: cpuFlags
        ),
        .testTarget(name: "RecurForecastTests", dependencies: ["RecurForecast", "RecurEngine"]),
        .testTarget(name: "RecurSweepTests", dependencies: ["RecurSweep", "RecurForecast"]),
        .testTarget(
            name: "RecurStoreTests",
            dependencies: ["RecurStore", "RecurSweep", "Migrations", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "RecurCoordinatorTests",
            dependencies: [
                "RecurCoordinator", "RecurAPI", "RecurStore", "RecurEngine", .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"), .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(
            name: "RecurWorkerTests",
            dependencies: ["RecurWorker", "RecurAPI", "RecurForecast", "RecurEngine", "RecurSweep", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "RecurCLITests",
            dependencies: ["RecurCLI", "RecurAPI", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Real processes: coordinators and workers on loopback, Unix sockets and network
        // namespaces, kill -9, headless Chromium, Schemathesis. `.ci/run` installs every tool.
        .testTarget(
            name: "RecurSystemTests",
            dependencies: [
                "RecurCLI", "RecurAPI", "RecurWorker", "RecurEngine", "RecurForecast", "RecurStore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["schemathesis.toml"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Warnings as errors (RECUR_STRICT=1) for every Swift target of Recur's own but the generated contract.
for target in package.targets where target.type != .system && !["RecurAPI", "CRecurSupport", "CRecurKernels"].contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + strict
}
