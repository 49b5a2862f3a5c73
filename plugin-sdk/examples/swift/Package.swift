// swift-tools-version:6.0
// A Koppel connector built outside the Koppel package, against the SDK alone.
import PackageDescription

let package = Package(
    name: "ExampleSwift",
    products: [
        .library(name: "KoppelExampleSwift", type: .dynamic, targets: ["ExampleSwift"])
    ],
    dependencies: [
        .package(name: "plugin-sdk", path: "../..")
    ],
    targets: [
        .target(name: "ExampleSwift", dependencies: [.product(name: "KoppelPluginSDK", package: "plugin-sdk")])
    ]
)
