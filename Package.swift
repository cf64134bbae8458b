// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Backprop",
    products: [
        .library(name: "Backprop", targets: ["Backprop"]),
        .executable(name: "backprop", targets: ["backprop"]),
        .executable(name: "backprop-bench", targets: ["backprop-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `swift package generate-documentation --target Backprop` builds the DocC catalog.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // The blocked matrix-product kernel in C, built for AVX2+FMA and portably; picked at run time.
        .target(name: "CBackpropKernels"),
        .target(name: "Backprop", dependencies: ["CBackpropKernels"]),
        // The benchmarks W1-W8 of ../shared/WORKLOADS.md: `swift run -c release backprop-bench`.
        .executableTarget(name: "backprop-bench", dependencies: ["Backprop"]),
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
