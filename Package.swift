// swift-tools-version: 6.0
// magent: a drop-in, fixed and faster replacement for the memcached proxy "magent".
import PackageDescription

let package = Package(
    name: "magent",
    products: [
        .executable(name: "magent", targets: ["magent"]),
        .executable(name: "magent-loadgen", targets: ["LoadGenerator"]),
    ],
    targets: [
        .systemLibrary(
            name: "CLibEvent",
            pkgConfig: "libevent",
            providers: [.apt(["libevent-dev"])]
        ),
        .target(
            name: "CEventShim",
            dependencies: ["CLibEvent"]
        ),
        .target(
            name: "MagentCore",
            dependencies: ["CLibEvent", "CEventShim"],
            // The request path is single-threaded per worker and its exclusive
            // accesses are proven by the debug builds the tests run (checks on);
            // release skips the runtime's dynamic exclusivity bookkeeping.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "magent",
            dependencies: ["MagentCore", "CEventShim"]
        ),
        .executableTarget(
            name: "LoadGenerator",
            dependencies: ["MagentCore", "CEventShim", "CLibEvent"]
        ),
        // What the test targets share: processes started and stopped by PID on
        // free loopback ports, blocking clients with deadlines, bounded polls.
        .target(
            name: "MagentTestKit",
            dependencies: ["MagentCore"],
            path: "Tests/MagentTestKit"
        ),
        .testTarget(
            name: "MagentCoreTests",
            dependencies: ["MagentCore", "MagentTestKit"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "MagentIntegrationTests",
            dependencies: ["MagentCore", "MagentTestKit"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
