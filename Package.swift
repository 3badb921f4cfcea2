// swift-tools-version:6.0
// Swift 6 language mode: strict concurrency checking is an error, not a warning.
import PackageDescription

let package = Package(
    name: "fleetgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fleetgate-agent", targets: ["fleetgate-agent"]),
        .executable(name: "fleetgate-bench", targets: ["fleetgate-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, reached only from FleetRuntime.
        .systemLibrary(name: "CLibUV", path: "Sources/CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // Pure modules: no C, no I/O.
        .target(name: "FleetProtocol", path: "Sources/Protocol"),
        .target(name: "FleetCore", dependencies: ["FleetProtocol"], path: "Sources/Core"),

        // The only Swift module that imports C.
        .target(name: "FleetRuntime", dependencies: ["CLibUV", "COpenSSL", "CSQLite", "FleetCore"], path: "Sources/Runtime"),

        .target(name: "FleetAgent", dependencies: [
            "FleetProtocol", "FleetCore", "FleetRuntime",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], path: "Sources/Agent"),

        .executableTarget(name: "fleetgate-agent", dependencies: [
            "FleetAgent",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/fleetgate-agent"),

        // libFuzzer entry for the MQTT decoder (`make fuzz`); a corpus replayer in normal builds.
        .executableTarget(name: "fleetgate-fuzz-mqtt", dependencies: ["FleetProtocol"], path: "Sources/fleetgate-fuzz-mqtt"),

        // Load generator for `make bench`: its own packet builders, independent of the broker.
        .executableTarget(name: "fleetgate-bench", dependencies: [
            "COpenSSL",  // the generator's own TLS client (tls-* scenarios); bench tool only, not the product
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/fleetgate-bench"),

        .testTarget(name: "FleetProtocolTests", dependencies: ["FleetProtocol"]),
        .testTarget(name: "FleetCoreTests", dependencies: ["FleetCore"]),
        .testTarget(name: "FleetRuntimeTests", dependencies: ["FleetRuntime"]),
        .testTarget(name: "FleetAgentTests", dependencies: ["FleetAgent", "FleetCore", "FleetProtocol", "FleetRuntime"]),
    ]
)
