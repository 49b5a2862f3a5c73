// swift-tools-version:6.0
// The Koppel plugin SDK: the C ABI header and a Swift layer over it. It has no
// dependencies, so a connector built against it stays small and builds fast.
import PackageDescription

let package = Package(
    name: "plugin-sdk",
    products: [
        .library(name: "KoppelPluginSDK", targets: ["KoppelPluginSDK"]),
        .library(name: "KoppelPluginABI", targets: ["KoppelPluginABI"]),
    ],
    targets: [
        // The header alone, as a Clang module (include/module.modulemap).
        .systemLibrary(name: "CKoppelPlugin", path: "include"),
        // Re-exports the header for Swift code that speaks the raw ABI (the host).
        .target(name: "KoppelPluginABI", dependencies: ["CKoppelPlugin"]),
        .target(name: "KoppelPluginSDK", dependencies: ["CKoppelPlugin"]),
    ]
)
