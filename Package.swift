// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]
/// The job format and the run model with what their types come with: what most targets use.
let model: [Target.Dependency] = ["JSONSchemaKit", "JobFormat", "RunModel", "Schedules"]

let package = Package(
    name: "wfd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wfd", targets: ["wfd"]),
        .executable(name: "wfctl", targets: ["wfctl"]),
        .executable(name: "wfd-web", targets: ["wfd-web"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // wfd-web's HTTP/1 server (HummingbirdCore: parsing, keep-alive, idle timeouts) over NIO.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // wfd's metrics in Prometheus's text format.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The Model Context Protocol's official Swift SDK: wfctl mcp and wfd-web's /mcp.
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1"),
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
        .target(name: "RuntimeSupport", exclude: ["README.md"], swiftSettings: strict),
        // JSON values, their parser, and a JSON Schema (2020-12) validator: nothing of wfd.
        .target(name: "JSONSchemaKit", dependencies: ["RuntimeSupport"], exclude: ["README.md"], swiftSettings: strict),
        // Both schedule grammars (cron, systemd calendar events), local time and zone names.
        .target(name: "Schedules", dependencies: ["RuntimeSupport"], exclude: ["README.md"], swiftSettings: strict),
        // The job format: reading and validating job files, templates, conditions, the published schema.
        .target(
            name: "JobFormat",
            dependencies: ["JSONSchemaKit", "RuntimeSupport", "Schedules", .product(name: "Yams", package: "Yams")],
            exclude: ["README.md"], swiftSettings: strict
        ),
        // The run model: runs' and steps' records, the state machine and its effects, and a job's
        // templates and conditions evaluated against a run.
        .target(
            name: "RunModel",
            dependencies: ["JSONSchemaKit", "JobFormat", "Schedules"],
            exclude: ["README.md"], swiftSettings: strict
        ),
        .target(
            name: "WorkflowStore",
            dependencies: ["CLinux", "JobFormat", "RunModel", "RuntimeSupport", "Schedules"],
            swiftSettings: strict
        ),
        .target(
            name: "WorkflowEngine",
            dependencies: model + [
                "CLinux", "CSpawn", "RuntimeSupport", "WorkflowStore", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SystemdSupport",
            dependencies: [
                "CSystemd", "JobFormat", "RuntimeSupport", "WorkflowEngine",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The control protocol between wfctl and wfd: requests, answers, the socket, who may send.
        .target(
            name: "WorkflowControl",
            dependencies: ["JobFormat", "Schedules"],
            exclude: ["README.md"], swiftSettings: strict
        ),
        // What wfctl shows from the state directory (and wfd from memory): status, why, stats, fsck.
        .target(
            name: "WorkflowReports",
            dependencies: model + ["RuntimeSupport", "WorkflowStore"],
            exclude: ["README.md"], swiftSettings: strict
        ),
        // The HTTP API as values (request in, response out) and its OpenAPI document.
        .target(
            name: "WebAPI",
            dependencies: [
                "JSONSchemaKit", "JobFormat", "RunModel", "Schedules", "WorkflowControl", "WorkflowReports",
                "WorkflowStore",
            ],
            exclude: ["README.md"], swiftSettings: strict
        ),
        // The web UI: pages rendered from the records, forms that send the API's commands.
        .target(
            name: "WebUI",
            dependencies: [
                "JSONSchemaKit", "JobFormat", "RunModel", "Schedules", "WebAPI", "WorkflowControl", "WorkflowReports",
                "WorkflowStore",
            ],
            exclude: ["README.md"], swiftSettings: strict
        ),
        // wfd's counters, histograms and gauges, fed by its runs' transitions, as Prometheus text.
        .target(
            name: "WorkflowMetrics",
            dependencies: [
                "JobFormat", "RunModel", "RuntimeSupport", .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // wfd as an MCP server: wfctl mcp (stdio) and wfd-web's /mcp, tools over the HTTP API.
        .target(
            name: "WorkflowMCP",
            dependencies: [
                "JSONSchemaKit", "JobFormat", "WebAPI", "WorkflowControl", .product(name: "MCP", package: "swift-sdk"),
            ],
            swiftSettings: strict
        ),
        // wfd's OpenTelemetry traces: spans made from runs' records, sent as OTLP/HTTP JSON.
        .target(
            name: "WorkflowTracing",
            dependencies: [
                "JSONSchemaKit", "JobFormat", "RunModel", "RuntimeSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "WorkflowTesting",
            dependencies: [
                "JSONSchemaKit", "JobFormat", "RunModel", "RuntimeSupport", "WorkflowEngine",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wfd",
            dependencies: [
                "JSONSchemaKit", "JobFormat", "RunModel", "RuntimeSupport", "SystemdSupport", "WorkflowControl",
                "WorkflowEngine", "WorkflowMetrics", "WorkflowReports", "WorkflowStore", "WorkflowTracing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wfctl",
            dependencies: model + [
                "RuntimeSupport", "WebAPI", "WorkflowControl", "WorkflowMCP", "WorkflowReports", "WorkflowStore",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wfd-web",
            dependencies: [
                "WebAPI", "WebUI", "WorkflowControl", "WorkflowMCP", "WorkflowStore",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Fuzz targets (make fuzz) and the replay of their corpus (make test).
        .target(
            name: "WorkflowFuzzing",
            dependencies: model,
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
            dependencies: model + [
                "RuntimeSupport", "WorkflowFuzzing", "WorkflowTesting", .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkflowStoreTests",
            dependencies: model + ["RuntimeSupport", "WorkflowStore", "WorkflowTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkflowEngineTests",
            dependencies: model + [
                "RuntimeSupport", "WorkflowEngine", "WorkflowStore", "WorkflowTesting", "WorkflowTracing",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SystemdSupportTests",
            dependencies: ["SystemdSupport", "WorkflowTesting", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WorkflowControlTests",
            dependencies: [
                "JobFormat", "RunModel", "Schedules", "WorkflowControl", "WorkflowReports", "WorkflowStore",
                "WorkflowTesting",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: model + ["WorkflowControl", "WorkflowReports", "WorkflowStore", "WorkflowTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WebAPITests",
            dependencies: model + [
                "RuntimeSupport", "WebAPI", "WebUI", "WorkflowControl", "WorkflowReports", "WorkflowStore",
                "WorkflowTesting",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["WorkflowControl", "WorkflowTesting"],
            swiftSettings: strict
        ),
    ]
)
