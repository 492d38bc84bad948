// swift-tools-version:6.2
import PackageDescription

// Layering (see README "Design choices"): C shims -> TorCrypto -> TorProtocol ->
// RelayStore / RelayCore -> RelayNode; FleetKit -> FleetCtl. Dependencies point down only.
let package = Package(
    name: "relayfleet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "relaynode", targets: ["RelayNode"]),
        .executable(name: "fleetctl", targets: ["FleetCtl"]),
        // For the libFuzzer driver package in Tests/Fuzz (scripts/fuzz), which builds apart.
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // fleetctl plan/apply read the declarative fleet file (fleet.yaml); libyaml underneath.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .target(name: "TorCrypto", dependencies: ["COpenSSL", "CSodium"]),
        .target(name: "TorProtocol", dependencies: [
            "TorCrypto",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "RelayCore", dependencies: [
            "COpenSSL", "TorCrypto", "TorProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            // BEGIN_DIR requests are decoded by NIOHTTP1 over an in-memory channel.
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .target(name: "RelayStore", dependencies: [
            "TorProtocol",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .executableTarget(name: "RelayNode", dependencies: [
            "TorCrypto", "TorProtocol", "RelayStore", "RelayCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .target(name: "FleetKit", dependencies: [
            // CSodium: argon2id (crypto_pwhash) and secretbox seal the fleet vault.
            "CSodium", "TorCrypto", "TorProtocol",
            .product(name: "GRDB", package: "GRDB.swift"),
            // fleetctl stats --prometheus and serve-metrics: the same exposition code as the relay's MetricsPort.
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "FleetCtl", dependencies: [
            "FleetKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            // fleetctl serve-metrics: a small HTTP endpoint for Prometheus to scrape.
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "TorCryptoTests", dependencies: ["TorCrypto", "TestSupport"], resources: [.copy("Vectors")]),
        .testTarget(name: "TorProtocolTests", dependencies: ["TorProtocol", "TorCrypto", "TestSupport"], resources: [.copy("Vectors")]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .target(name: "FuzzTargets", dependencies: [
            "TorProtocol", "TorCrypto", "RelayCore", "RelayStore",
            .product(name: "NIOCore", package: "swift-nio"),
        ], path: "Tests/FuzzTargets"),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets", "TestSupport"]),
        .testTarget(name: "RelayCoreTests", dependencies: [
            "RelayCore", "TorProtocol", "TorCrypto", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOTestUtils", package: "swift-nio"),
        ]),
        .testTarget(name: "RelayStoreTests", dependencies: ["RelayStore", "TorProtocol", "TorCrypto"]),
        .testTarget(name: "FleetKitTests", dependencies: ["FleetKit", "TorProtocol", "TorCrypto", "TestSupport"]),
        .testTarget(name: "RelayNodeTests", dependencies: ["RelayNode", "RelayStore", "FleetKit", "TorProtocol", "TorCrypto", "TestSupport"]),
    ]
)
