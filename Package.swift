// swift-tools-version:6.1
import PackageDescription

// Linux only: portreserve is a systemd daemon and links libsystemd.
let package = Package(
    name: "portreserve",
    products: [
        .executable(name: "portreserve", targets: ["portreserve"]),
        .executable(name: "portreserve-cli", targets: ["portreserve-cli"]),
        .executable(name: "portrelease", targets: ["portrelease"]),
        .executable(name: "portreserve-generator", targets: ["portreserve-generator"]),
        .library(name: "Systemd", targets: ["Systemd"]),
        .library(name: "SystemdLogging", targets: ["SystemdLogging"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // libsystemd's sd-daemon.h and sd-journal.h, nothing else.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // eventfd and signalfd, which Glibc's Swift module does not export, and the cmsg(3)
        // macros, SCM_CREDENTIALS and struct ucred, compiled in C with _GNU_SOURCE.
        .target(name: "CLinux"),
        // The one place where raw C calls are retried on EINTR and turned into Swift errors.
        .target(name: "SystemCalls", dependencies: ["CLinux"]),
        // A reusable wrapper of the service manager's API; it knows nothing about ports.
        // Descriptors in its API are swift-system's FileDescriptor, as other Swift libraries' are.
        .target(
            name: "Systemd",
            dependencies: ["CSystemd", "SystemCalls", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // A swift-log handler that writes journal entries: only a client that logs through
        // swift-log pays for it.
        .target(
            name: "SystemdLogging",
            dependencies: ["Systemd", "SystemCalls", .product(name: "Logging", package: "swift-log")]
        ),
        // Every wire format: the control socket's requests and replies, its client, and the status
        // file the daemon publishes. All that portrelease needs.
        .target(name: "PortReserveProtocol", dependencies: ["SystemCalls"]),
        // Which file configures each service (the layering of the directories) and the hook
        // directives: all the generator reads. No services database, no libsystemd.
        .target(name: "PortReserveConfiguration", dependencies: ["PortReserveProtocol", "SystemCalls"]),
        // Configuration, reservations and the daemon loop. Never parses arguments.
        .target(
            name: "PortReserveCore",
            dependencies: [
                "PortReserveConfiguration", "PortReserveProtocol", "Systemd", "SystemCalls",
                .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // What portreserve-cli shows: the status report (text, JSON, who has each port now) and the
        // configuration check. Never linked into the daemon, which only publishes its status file.
        .target(
            name: "PortReserveReports",
            dependencies: ["PortReserveCore", "PortReserveConfiguration", "PortReserveProtocol", "SystemCalls"]
        ),
        // The daemon, which every server starts at boot: no ArgumentParser and none of the
        // Foundation it brings. Anything but the daemon's own options goes to portreserve-cli.
        .executableTarget(
            name: "portreserve",
            dependencies: [
                "PortReserveCore", "PortReserveProtocol", "Systemd", "SystemdLogging", "SystemCalls",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `portreserve status|check|reclaim`, --help and the shell completions, run by portreserve.
        .executableTarget(
            name: "portreserve-cli",
            dependencies: [
                "PortReserveReports", "PortReserveCore", "PortReserveConfiguration", "PortReserveProtocol", "SystemCalls",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "portrelease",
            dependencies: ["PortReserveProtocol", "SystemCalls"]
        ),
        // The systemd generator that hooks each configured service's unit: runs at every boot and
        // daemon-reload, so it links only the configuration's layering and directives.
        .executableTarget(
            name: "portreserve-generator",
            dependencies: ["PortReserveConfiguration", "SystemCalls"]
        ),
        // A helper the Systemd tests run under systemd-socket-activate and in a private mount namespace.
        .executableTarget(
            name: "systemd-probe",
            dependencies: ["Systemd", "SystemdLogging", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SystemdProbe"
        ),
        // Temporary directories, subprocesses and the built products' location, for every test target.
        .target(name: "TestSupport", dependencies: ["SystemCalls"], path: "Tests/TestSupport"),
        .testTarget(
            name: "SystemdTests",
            dependencies: [
                "Systemd", "SystemdLogging", "SystemCalls", "TestSupport", "systemd-probe",
                .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(name: "PortReserveProtocolTests", dependencies: ["PortReserveProtocol", "SystemCalls", "TestSupport"]),
        .testTarget(
            name: "PortReserveCoreTests",
            dependencies: [
                "PortReserveCore", "PortReserveConfiguration", "PortReserveProtocol", "Systemd", "SystemCalls", "TestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(
            name: "PortReserveReportsTests",
            dependencies: ["PortReserveReports", "PortReserveCore", "PortReserveConfiguration", "PortReserveProtocol", "TestSupport"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["portreserve", "portreserve-cli", "portrelease", "portreserve-generator", "PortReserveCore", "PortReserveConfiguration", "PortReserveProtocol", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
