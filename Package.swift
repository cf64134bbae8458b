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
            // The PyTorch golden files, the project's one copy of ../shared/golden (refreshed by
            // scripts/refresh_golden.sh): `backprop verify` checks ops, ties and expressions.json
            // when given no file; the tests read all of them from this folder (Golden in
            // Tests/BackpropTests/Fixtures.swift).
            resources: [.copy("Reference")]
        ),
        .testTarget(
            name: "BackpropTests",
            dependencies: ["Backprop"],
            // Test-only data: iris, NumPy/safetensors files from Python, optim.json, printing.json.
            resources: [.copy("Fixtures")]
        ),
        // Programs written as a user's package writes them (public API only, no @testable), held
        // to PyTorch's numbers from scripts/make_user_programs.py.
        .testTarget(
            name: "UserProgramTests",
            dependencies: ["Backprop"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
