// swift-tools-version:6.0
// Swift 6 language mode: strict concurrency checking is an error, not a warning.
import PackageDescription

/// Release builds of the modules on the broker's per-message path drop the dynamic exclusivity
/// checks (~3 % of the agent's CPU in docs/PROFILE.md: a thread-local access set per class
/// property access). Debug builds, and so every `swift test` run, keep them and catch violations.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "fleetgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fleetgate-agent", targets: ["fleetgate-agent"]),
        .executable(name: "fleetgate-bench", targets: ["fleetgate-bench"]),
        .executable(name: "fleetgate-coordinator", targets: ["fleetgate-coordinator"]),
        .executable(name: "fleetgate", targets: ["fleetgate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // Coordinator only (never a dependency of the agent's targets): HTTP admin API and /metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        // Already in the graph through Hummingbird; named so the coordinator can stop its HTTP
        // server gracefully while libuv owns the signals.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        // Already in the graph through Hummingbird; named for the admin listener's connection
        // guard, a NIO channel handler on HTTP request parts (Admin/HTTPConnectionGuard.swift).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Already in the graph through Hummingbird; named for the admin listener's TLS settings.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C libraries, reached only from FleetRuntime.
        .systemLibrary(name: "CLibUV", path: "Sources/CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libcurl's multi interface, driven by the loop (HTTPClient): webhook endpoints (#14).
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Pure modules: no C, no I/O.
        .target(name: "FleetProtocol", path: "Sources/Protocol", swiftSettings: hotPath),
        .target(name: "FleetCore", dependencies: ["FleetProtocol"], path: "Sources/Core", swiftSettings: hotPath),
        // What every executable shares for operators (issue #16): the version, log lines (text or
        // JSON, a swift-log handler), and the agent's /metrics pieces (HTTP request-head parser,
        // Prometheus text renderer). Pure but for the log handler's one write to standard error.
        .target(name: "FleetObservability", dependencies: [.product(name: "Logging", package: "swift-log")], path: "Sources/Observability"),

        // The only Swift module that imports C.
        .target(name: "FleetRuntime", dependencies: ["CLibUV", "COpenSSL", "CSQLite", "CCurl", "FleetCore", "FleetProtocol"], path: "Sources/Runtime",
                swiftSettings: hotPath),

        // The YAML config reader both processes share: errors name file, line and key.
        // Also the socket-mapping documents (JSON through Foundation), so it uses FleetCore's receive criteria.
        .target(name: "FleetConfig", dependencies: ["FleetCore", .product(name: "Yams", package: "Yams")], path: "Sources/Config"),

        .target(name: "FleetAgent", dependencies: [
            "FleetConfig", "FleetObservability",
            "FleetProtocol", "FleetCore", "FleetRuntime",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], path: "Sources/Agent", swiftSettings: hotPath),

        .executableTarget(name: "fleetgate-agent", dependencies: [
            "FleetAgent", "FleetConfig", "FleetObservability",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/fleetgate-agent"),

        // libFuzzer entry for the MQTT decoder (`make fuzz`); a corpus replayer in normal builds.
        // Also the managed-socket handshake line (FleetCore).
        .executableTarget(name: "fleetgate-fuzz-mqtt", dependencies: ["FleetProtocol", "FleetCore", "FleetObservability"], path: "Sources/fleetgate-fuzz-mqtt"),

        // Load generator for `make bench`: its own packet builders, independent of the broker.
        .executableTarget(name: "fleetgate-bench", dependencies: [
            "COpenSSL",  // the generator's own TLS client (tls-* scenarios); bench tool only, not the product
            "FleetObservability",  // --version
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/fleetgate-bench"),

        // The coordinator: gateway graph, interest index, routing, admin API. Not FleetAgent.
        .target(name: "FleetCoordinator", dependencies: [
            "FleetProtocol", "FleetCore", "FleetRuntime", "FleetConfig", "FleetObservability",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            // Admin-listener TLS (--http-tls-cert/--http-tls-key): NIOSSL, already built as part
            // of Hummingbird's graph. The agent link keeps its own OpenSSL stack (FleetRuntime).
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Coordinator",
        // The dashboard's files, compiled into the binary as byte arrays (`PackageResources.<name>`):
        // no bundle directory next to the executable, no build step, nothing fetched by the browser.
        resources: [
            .embedInCode("Dashboard/static/index.html"),
            .embedInCode("Dashboard/static/dashboard.css"),
            .embedInCode("Dashboard/static/dashboard.js"),
            .embedInCode("Dashboard/static/api.js"),
            .embedInCode("Dashboard/static/format.js"),
            .embedInCode("Dashboard/static/graph.js"),
            .embedInCode("Dashboard/static/views.js"),
            .embedInCode("Dashboard/static/favicon.svg"),
        ]),

        .executableTarget(name: "fleetgate-coordinator", dependencies: [
            "FleetCoordinator", "FleetConfig", "FleetObservability",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/fleetgate-coordinator"),

        // The operator's CLI (issue #16): argument-parser and Foundation's URLSession only, so it
        // builds in seconds and links neither the agent's runtime nor Hummingbird.
        .target(name: "FleetCLI", dependencies: [
            "FleetObservability",   // the one version constant
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/FleetCLI"),
        .executableTarget(name: "fleetgate", dependencies: ["FleetCLI"], path: "Sources/fleetgate"),

        .testTarget(name: "FleetProtocolTests", dependencies: ["FleetProtocol"]),
        .testTarget(name: "FleetObservabilityTests", dependencies: ["FleetObservability", .product(name: "Logging", package: "swift-log")]),
        // FleetConfig for the socket mappings, whose JSON reading needs Foundation (FleetCore may not).
        .testTarget(name: "FleetCoreTests", dependencies: ["FleetCore", "FleetConfig"]),
        .testTarget(name: "FleetRuntimeTests", dependencies: ["FleetRuntime"]),
        .testTarget(name: "FleetAgentTests", dependencies: ["FleetAgent", "FleetConfig", "FleetCore", "FleetProtocol", "FleetRuntime"]),
        .testTarget(name: "FleetCoordinatorTests", dependencies: ["FleetCoordinator", "FleetConfig", "FleetCore", "FleetProtocol"]),
        // The load generator's loss/duplicate/order accounting (issue #5).
        .testTarget(name: "FleetBenchTests", dependencies: ["fleetgate-bench"]),
        // The CLI's pure parts: requests built from arguments, tables, exit codes.
        .testTarget(name: "FleetCLITests", dependencies: ["FleetCLI"]),
    ]
)
