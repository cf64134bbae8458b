// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Backprop",
    products: [
        .library(name: "Backprop", targets: ["Backprop"]),
        .executable(name: "backprop", targets: ["backprop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "Backprop"),
        .executableTarget(
            name: "backprop",
            dependencies: [
                "Backprop",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // PyTorch reference files that `backprop verify` checks when given no file.
            resources: [.copy("Reference")]
        ),
        .testTarget(
            name: "BackpropTests",
            dependencies: ["Backprop"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
