// swift-tools-version:6.0
import PackageDescription

/// Every connector in Plugins/ is its own dynamic library, loaded by the host with dlopen.
let connectors = ["ExactOnline", "WooCommerce", "Mijnwebwinkel", "Winstore", "Optiply", "Boekuwzending", "Null"]

let package = Package(
    name: "Koppel",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "koppel", targets: ["koppel"]),
        .executable(name: "koppel-bench", targets: ["koppel-bench"]),
        .library(name: "KoppelHost", targets: ["KoppelHost"]),
        .library(name: "KoppelSandbox", targets: ["KoppelSandbox"]),
    ] + connectors.map { .library(name: "Koppel\($0)", type: .dynamic, targets: ["Koppel\($0)"]) },
    dependencies: [
        .package(path: "plugin-sdk"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "KoppelHost",
            dependencies: [
                "CCurl",
                .product(name: "KoppelPluginABI", package: "plugin-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "KoppelSandbox",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "KoppelDemo",
            dependencies: [
                "KoppelHost",
                "KoppelSandbox",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "koppel",
            dependencies: [
                "KoppelHost",
                "KoppelSandbox",
                "KoppelDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "koppel-bench",
            dependencies: [
                "KoppelHost",
                "KoppelSandbox",
                "KoppelDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "KoppelHostTests",
            dependencies: [
                "KoppelHost",
                "KoppelSandbox",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
            ],
            exclude: ["Fixtures"]
        ),
    ] + connectors.map {
        .target(
            name: "Koppel\($0)",
            dependencies: [.product(name: "KoppelPluginSDK", package: "plugin-sdk")],
            path: "Plugins/\($0)"
        )
    }
)
