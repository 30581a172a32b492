// swift-tools-version:6.1
// The floor of the design itself: the smallest Swift program that links libsystemd and tells
// NOTIFY_SOCKET READY=1, built the way the daemon is (`make swift-floor`: the Swift runtime and
// its C++ runtime linked statically).
// benchmarks/run measures its start-up and resident memory beside the daemon's.
import PackageDescription

let package = Package(
    name: "swift-floor",
    targets: [
        .systemLibrary(name: "CSystemdFloor", pkgConfig: "libsystemd"),
        .executableTarget(name: "swift-floor", dependencies: ["CSystemdFloor"]),
    ]
)
