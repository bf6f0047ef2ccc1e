// swift-tools-version:5.9
// NeuroLite for iOS and macOS: the featurizer core (the repository's portable C, as a C target), a bundle
// reader, planner, predictor, self-test and benchmark in Swift, a Core ML runner (NeuroLite) and an
// ExecuTorch runner (NeuroLiteExecuTorch). Written for Xcode 16.4 / Swift 5.10+ (docs/mobile.md).
//
// The C target's sources are symbolic links into ../native (Sources/CNeuroLiteFeaturizer/src and
// include/neurolite_featurizer.h): SwiftPM needs a target's files inside the package, and links keep one
// copy of the core, so the phone compiles exactly the code the goldens test (tests/test_ios_package.py
// checks the links). Use the package by path (a local package); to copy it elsewhere, copy with
// `cp -RL` so the links become files.
import PackageDescription

let package = Package(
    name: "NeuroLite",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "NeuroLite", targets: ["NeuroLite"]),
        .library(name: "NeuroLiteExecuTorch", targets: ["NeuroLiteExecuTorch"]),
    ],
    dependencies: [
        // The runtime of .pte bundles; its version matches the executorch that exported them (1.5.1).
        .package(url: "https://github.com/pytorch/executorch.git", branch: "swiftpm-1.5.1"),
    ],
    targets: [
        .target(
            name: "CNeuroLiteFeaturizer",
            path: "Sources/CNeuroLiteFeaturizer",
            sources: ["src"],
            publicHeadersPath: "include",
            cSettings: [.define("NDEBUG")]
        ),
        .target(name: "NeuroLite", dependencies: ["CNeuroLiteFeaturizer"], path: "Sources/NeuroLite"),
        .target(
            name: "NeuroLiteExecuTorch",
            dependencies: [
                "NeuroLite",
                .product(name: "executorch", package: "executorch"),
                .product(name: "backend_xnnpack", package: "executorch"),
                .product(name: "kernels_optimized", package: "executorch"),
            ],
            path: "Sources/NeuroLiteExecuTorch"
            // The app links with -all_load (App/project.yml): ExecuTorch registers kernels and backends at load.
        ),
        .testTarget(
            name: "NeuroLiteTests",
            dependencies: ["NeuroLite"],
            path: "Tests/NeuroLiteTests",
            resources: [.copy("golden")]
        ),
    ],
    cLanguageStandard: .c99
)
