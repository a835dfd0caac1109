// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "wfd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wfd", targets: ["wfd"]),
        .executable(name: "wfctl", targets: ["wfctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .systemLibrary(name: "CLinux"),
        // Starting step processes: clone(CLONE_VM|CLONE_VFORK) with a session, credentials and pipes.
        .target(name: "CSpawn"),
        // A lock and a parallel map: the runtime helpers every other target may use.
        .target(name: "RuntimeSupport", swiftSettings: strict),
        // JSON values, their parser, and a JSON Schema (2020-12) validator: nothing of wfd.
        .target(name: "JSONSchemaKit", dependencies: ["RuntimeSupport"], swiftSettings: strict),
        // Both schedule grammars (cron, systemd calendar events), local time and zone names.
        .target(name: "Schedules", dependencies: ["RuntimeSupport"], swiftSettings: strict),
        .target(
            name: "WorkflowCore",
            dependencies: ["Schedules", "JSONSchemaKit", "RuntimeSupport", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        .target(
            name: "WorkflowStore",
            dependencies: ["CLinux", "WorkflowCore"],
            swiftSettings: strict
        ),
        .target(
            name: "WorkflowEngine",
            dependencies: ["JSONSchemaKit", "RuntimeSupport", 
                "CLinux",
                "CSpawn",
                "WorkflowCore",
                "WorkflowStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SystemdSupport",
            dependencies: ["RuntimeSupport", 
                "CSystemd", "WorkflowCore", "WorkflowEngine", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The control protocol between wfctl and wfd: requests, answers, the socket, who may send.
        .target(
            name: "WorkflowControl",
            dependencies: ["WorkflowCore"],
            swiftSettings: strict
        ),
        // What wfctl shows from the state directory (and wfd from memory): status, why, stats, fsck.
        .target(
            name: "WorkflowReports",
            dependencies: ["Schedules", "JSONSchemaKit", "RuntimeSupport", "WorkflowCore", "WorkflowStore"],
            swiftSettings: strict
        ),
        .target(
            name: "WorkflowTesting",
            dependencies: ["JSONSchemaKit", "RuntimeSupport", "WorkflowCore", "WorkflowStore", "WorkflowEngine"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wfd",
            dependencies: [
                "WorkflowReports", "JSONSchemaKit", "RuntimeSupport", "WorkflowCore", "WorkflowStore", "WorkflowEngine", "SystemdSupport", "WorkflowControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wfctl",
            dependencies: ["Schedules", "WorkflowReports", 
                "JSONSchemaKit", "WorkflowCore", "WorkflowStore", "WorkflowControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Fuzz targets (make fuzz) and the replay of their corpus (make test).
        .target(
            name: "WorkflowFuzzing",
            dependencies: ["Schedules", "JSONSchemaKit", "WorkflowCore"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wfd-fuzz",
            dependencies: ["CLinux", "WorkflowFuzzing"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wfd-testhelper",
            dependencies: ["WorkflowStore"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkflowCoreTests",
            dependencies: ["Schedules", "JSONSchemaKit", "RuntimeSupport", "WorkflowCore", "WorkflowFuzzing", "WorkflowTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkflowStoreTests",
            dependencies: ["JSONSchemaKit", "WorkflowStore", "WorkflowTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkflowEngineTests",
            dependencies: ["Schedules", "JSONSchemaKit", "RuntimeSupport", "WorkflowEngine", "WorkflowTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SystemdSupportTests",
            dependencies: ["SystemdSupport", "WorkflowTesting", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkflowControlTests",
            dependencies: ["Schedules", "WorkflowReports", "WorkflowControl", "WorkflowTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Schedules", "WorkflowReports", "JSONSchemaKit", "WorkflowCore", "WorkflowStore", "WorkflowControl", "WorkflowTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["WorkflowTesting"],
            swiftSettings: strict
        ),
    ]
)
